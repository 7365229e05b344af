//! DescribeQuorum (key 55): the metadata quorum's leader, epoch, high watermark,
//! voters and observers, as the leader sees them.
//!
//! Any node answers: a follower asks the leader over the controller listener (Kafka's
//! brokers forward this request to the controller quorum too). The only partition is
//! `__cluster_metadata-0`; anything else is UNKNOWN_TOPIC_OR_PARTITION per partition.

use super::{str_bytes, topic_name};
use crate::quorum::describe::{QuorumState, Replica};
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 2;

/// Kafka's name for the metadata log's topic.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeQuorumRequest,
) -> Option<DescribeQuorumResponse> {
    if !crate::security::authorizer::Authz::new(ctx).cluster(crate::security::acl::op::DESCRIBE) {
        return Some(
            DescribeQuorumResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
        );
    }
    if !names_the_metadata_partition(&req) {
        return Some(per_partition_error(&req));
    }
    let (partition, nodes) = match ctx.broker.quorum.describe().await {
        Some(state) => partition(state, ctx.version),
        None => (
            PartitionData::default()
                .with_error_code(ResponseError::NotLeaderOrFollower.code())
                .with_error_message(Some(str_bytes(
                    "the metadata quorum has no leader that answered",
                ))),
            Vec::new(),
        ),
    };
    let mut resp = DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic_name(METADATA_TOPIC))
        .with_partitions(vec![partition])]);
    if ctx.version >= 2 {
        resp = resp.with_nodes(nodes);
    }
    Some(resp)
}

fn names_the_metadata_partition(req: &DescribeQuorumRequest) -> bool {
    match req.topics.as_slice() {
        [t] => {
            t.topic_name.0.as_str() == METADATA_TOPIC
                && matches!(t.partitions.as_slice(), [p] if p.partition_index == 0)
        }
        _ => false,
    }
}

fn per_partition_error(req: &DescribeQuorumRequest) -> DescribeQuorumResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    PartitionData::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                })
                .collect();
            TopicData::default()
                .with_topic_name(t.topic_name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DescribeQuorumResponse::default().with_topics(topics)
}

fn partition(state: QuorumState, version: i16) -> (PartitionData, Vec<Node>) {
    let replica = |r: &Replica| {
        let mut s = ReplicaState::default()
            .with_replica_id(BrokerId(r.id))
            .with_log_end_offset(r.log_end_offset);
        if version >= 1 {
            s = s
                .with_last_fetch_timestamp(r.last_fetch_ms)
                .with_last_caught_up_timestamp(r.last_caught_up_ms);
        }
        if version >= 2 {
            s = s.with_replica_directory_id(r.directory_id);
        }
        s
    };
    let data = PartitionData::default()
        .with_leader_id(BrokerId(state.leader_id))
        .with_leader_epoch(state.leader_epoch)
        .with_high_watermark(state.high_watermark)
        .with_current_voters(state.voters.iter().map(replica).collect())
        .with_observers(state.observers.iter().map(replica).collect());
    let nodes = state
        .nodes
        .iter()
        .map(|n| {
            Node::default()
                .with_node_id(BrokerId(n.id))
                .with_listeners(vec![Listener::default()
                    .with_name(str_bytes(n.listener.clone()))
                    .with_host(str_bytes(n.host.clone()))
                    .with_port(n.port)])
        })
        .collect();
    (data, nodes)
}
