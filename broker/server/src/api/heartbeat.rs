//! Heartbeat (key 12): keeps a member's session alive; tells it when to rejoin.

use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 4;

pub async fn handle(ctx: &RequestContext, req: HeartbeatRequest) -> Option<HeartbeatResponse> {
    // Classic members of consumer groups resolve their subscriptions against these.
    ctx.broker
        .groups
        .set_topics(super::consumer_group_heartbeat::topics(&ctx.broker));
    let groups = &ctx.broker.groups;
    let error = match groups.ready(&ctx.broker) {
        Err(e) => Some(e),
        Ok(()) if req.group_id.0.is_empty() => Some(ResponseError::InvalidGroupId),
        Ok(())
            if !crate::security::authorizer::Authz::new(ctx)
                .group(crate::security::acl::op::READ, &req.group_id.0) =>
        {
            Some(ResponseError::GroupAuthorizationFailed)
        }
        Ok(()) => groups
            .run(&req.group_id.0, |c, now| {
                c.heartbeat(
                    now,
                    &req.group_id.0,
                    &req.member_id,
                    req.group_instance_id.as_deref(),
                    req.generation_id,
                )
            })
            .await
            .unwrap_or_else(|e| match e {
                // Kafka answers blindly while loading, so members do not rejoin needlessly.
                ResponseError::CoordinatorLoadInProgress => None,
                e => Some(e),
            }),
    };
    Some(HeartbeatResponse::default().with_error_code(error.map_or(0, |e| e.code())))
}
