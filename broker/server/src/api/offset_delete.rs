//! OffsetDelete (key 47): removes committed offsets of a group; refused per partition
//! (GROUP_SUBSCRIBED_TO_TOPIC) for topics an active consumer group subscribes to.

use super::topic_name;
use crate::router::RequestContext;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 0;

pub async fn handle(
    ctx: &RequestContext,
    req: OffsetDeleteRequest,
) -> Option<OffsetDeleteResponse> {
    let groups = &ctx.broker.groups;
    let authz = crate::security::authorizer::Authz::new(ctx);
    if !authz.group(crate::security::acl::op::DELETE, &req.group_id.0) {
        return Some(OffsetDeleteResponse::default().with_error_code(
            kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code(),
        ));
    }
    if let Err(e) = groups.ready(&ctx.broker) {
        return Some(OffsetDeleteResponse::default().with_error_code(e.code()));
    }
    let wanted: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let result = match groups
        .run(&req.group_id.0, |c, _| {
            c.delete_offsets(&req.group_id.0, wanted)
        })
        .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) | Err(e) => {
            return Some(OffsetDeleteResponse::default().with_error_code(e.code()))
        }
    };
    let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
    for (topic, partition, error) in result {
        let part = OffsetDeleteResponsePartition::default()
            .with_partition_index(partition)
            .with_error_code(error.map_or(0, |e| e.code()));
        match topics.last_mut() {
            Some(t) if *t.name.0 == *topic => t.partitions.push(part),
            _ => topics.push(
                OffsetDeleteResponseTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    Some(OffsetDeleteResponse::default().with_topics(topics))
}
