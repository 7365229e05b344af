//! JoinGroup (key 11): join or rejoin a classic group; parks until the rebalance ends.
//!
//! v0 has no rebalance timeout (the session timeout serves as both, as in Kafka);
//! v4+ requires a known member id (MEMBER_ID_REQUIRED round trip); v9 carries
//! KIP-814's `skip_assignment` for a static leader rejoining a Stable group. Below v9
//! the coordinator answers that leader the way Kafka does (the previous leader id,
//! no members), so `skip_assignment` is never set where it cannot be encoded.

use super::str_bytes;
use crate::group::JoinRequest;
use crate::router::RequestContext;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 9;

pub async fn handle(ctx: &RequestContext, req: JoinGroupRequest) -> Option<JoinGroupResponse> {
    let broker = &ctx.broker;
    let member_id = req.member_id.to_string();
    if let Err(e) = broker.groups.ready(broker) {
        return Some(error(e.code(), &member_id));
    }
    if req.group_id.0.is_empty() {
        return Some(error(
            kafka_protocol::error::ResponseError::InvalidGroupId.code(),
            &member_id,
        ));
    }
    if !crate::security::authorizer::Authz::new(ctx)
        .group(crate::security::acl::op::READ, &req.group_id.0)
    {
        return Some(error(
            kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code(),
            &member_id,
        ));
    }
    let join = JoinRequest {
        group_id: req.group_id.0.to_string(),
        member_id,
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: ctx
            .header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if ctx.version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: ctx.version >= 4,
        supports_skip_assignment: ctx.version >= 9,
    };
    // Classic members of consumer groups resolve their subscriptions against these.
    broker
        .groups
        .set_topics(super::consumer_group_heartbeat::topics(broker));
    let resp = broker.groups.join(join).await;
    Some(
        JoinGroupResponse::default()
            .with_error_code(resp.error.map_or(0, |e| e.code()))
            .with_generation_id(resp.generation)
            .with_protocol_type(resp.protocol_type.map(str_bytes))
            .with_protocol_name(resp.protocol_name.map(str_bytes))
            .with_leader(str_bytes(resp.leader))
            .with_skip_assignment(ctx.version >= 9 && resp.skip_assignment)
            .with_member_id(str_bytes(resp.member_id))
            .with_members(
                resp.members
                    .into_iter()
                    .map(|m| {
                        JoinGroupResponseMember::default()
                            .with_member_id(str_bytes(m.member_id))
                            .with_group_instance_id(m.instance_id.map(str_bytes))
                            .with_metadata(m.metadata)
                    })
                    .collect(),
            ),
    )
}

fn error(code: i16, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(-1)
        .with_member_id(str_bytes(member_id))
}
