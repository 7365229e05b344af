//! SyncGroup (key 14): the leader hands in the assignment; every member waits for its part.

use super::str_bytes;
use crate::group::SyncRequest;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 5;

pub async fn handle(ctx: &RequestContext, req: SyncGroupRequest) -> Option<SyncGroupResponse> {
    let broker = &ctx.broker;
    let refused = match broker.groups.ready(broker) {
        // Kafka: while loading, the rebalance state is lost; REBALANCE_IN_PROGRESS
        // sends the member back to JoinGroup without rediscovering the coordinator.
        Err(ResponseError::CoordinatorLoadInProgress) => Some(ResponseError::RebalanceInProgress),
        Err(e) => Some(e),
        Ok(()) if req.group_id.0.is_empty() => Some(ResponseError::InvalidGroupId),
        Ok(())
            if !crate::security::authorizer::Authz::new(ctx)
                .group(crate::security::acl::op::READ, &req.group_id.0) =>
        {
            Some(ResponseError::GroupAuthorizationFailed)
        }
        Ok(()) => None,
    };
    if let Some(e) = refused {
        return Some(SyncGroupResponse::default().with_error_code(e.code()));
    }
    let sync = SyncRequest {
        group_id: req.group_id.0.to_string(),
        generation: req.generation_id,
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        protocol_type: req.protocol_type.map(|s| s.to_string()),
        protocol_name: req.protocol_name.map(|s| s.to_string()),
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    // Classic members of consumer groups resolve their subscriptions against these.
    broker
        .groups
        .set_topics(super::consumer_group_heartbeat::topics(broker));
    let resp = broker.groups.sync(sync).await;
    Some(
        SyncGroupResponse::default()
            .with_error_code(resp.error.map_or(0, |e| e.code()))
            .with_protocol_type(resp.protocol_type.map(str_bytes))
            .with_protocol_name(resp.protocol_name.map(str_bytes))
            .with_assignment(resp.assignment),
    )
}
