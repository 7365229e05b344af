//! ListPartitionReassignments (key 46): the ongoing reassignments, of every partition or of
//! the named ones, from this broker's metadata image (a partition that does not exist or is
//! not moving is left out, as Kafka does).

use crate::metadata::TopicImage;
use crate::router::RequestContext;
use crate::security::acl::op;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 0;

pub async fn handle(
    ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> Option<ListPartitionReassignmentsResponse> {
    if !crate::security::authorizer::Authz::new(ctx).cluster(op::DESCRIBE) {
        return Some(
            ListPartitionReassignmentsResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
        );
    }
    let image = ctx.broker.image();
    let mut topics = Vec::new();
    match req.topics {
        None => {
            for t in image.topics.values() {
                let all: Vec<i32> = t.reassigning.keys().copied().collect();
                topics.extend(ongoing(t, &all));
            }
        }
        Some(wanted) => {
            for w in wanted {
                if let Some(t) = image.topic(&w.name.0) {
                    topics.extend(ongoing(t, &w.partition_indexes));
                }
            }
        }
    }
    Some(ListPartitionReassignmentsResponse::default().with_topics(topics))
}

/// The ongoing reassignments of `t` among `partitions`, or none.
fn ongoing(t: &TopicImage, partitions: &[i32]) -> Option<OngoingTopicReassignment> {
    let ids = |v: &[i32]| v.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let listed: Vec<OngoingPartitionReassignment> = partitions
        .iter()
        .filter_map(|&p| {
            let r = t.reassigning.get(&p)?;
            let replicas = t.replicas.get(usize::try_from(p).ok()?)?;
            Some(
                OngoingPartitionReassignment::default()
                    .with_partition_index(p)
                    .with_replicas(ids(replicas))
                    .with_adding_replicas(ids(&r.adding))
                    .with_removing_replicas(ids(&r.removing)),
            )
        })
        .collect();
    (!listed.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(super::topic_name(&t.name))
            .with_partitions(listed)
    })
}
