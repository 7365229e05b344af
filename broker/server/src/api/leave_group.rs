//! LeaveGroup (key 13): members leave (v3+: a batch, static members by instance id).

use super::str_bytes;
use crate::group::Leaving;
use crate::router::RequestContext;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 5;

pub async fn handle(ctx: &RequestContext, req: LeaveGroupRequest) -> Option<LeaveGroupResponse> {
    // Classic members of consumer groups resolve their subscriptions against these.
    ctx.broker
        .groups
        .set_topics(super::consumer_group_heartbeat::topics(&ctx.broker));
    let groups = &ctx.broker.groups;
    if let Err(e) = groups.ready(&ctx.broker) {
        return Some(LeaveGroupResponse::default().with_error_code(e.code()));
    }
    if req.group_id.0.is_empty() {
        let e = kafka_protocol::error::ResponseError::InvalidGroupId;
        return Some(LeaveGroupResponse::default().with_error_code(e.code()));
    }
    if !crate::security::authorizer::Authz::new(ctx)
        .group(crate::security::acl::op::READ, &req.group_id.0)
    {
        let e = kafka_protocol::error::ResponseError::GroupAuthorizationFailed;
        return Some(LeaveGroupResponse::default().with_error_code(e.code()));
    }
    let leaving: Vec<Leaving> = if ctx.version >= 3 {
        req.members
            .iter()
            .map(|m| Leaving {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                error: None,
            })
            .collect()
    } else {
        vec![Leaving {
            member_id: req.member_id.to_string(),
            instance_id: None,
            error: None,
        }]
    };
    let group = req.group_id.0.to_string();
    let result = match groups
        .run(&group, |c, now| c.leave(now, &group, leaving))
        .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) | Err(e) => {
            return Some(LeaveGroupResponse::default().with_error_code(e.code()))
        }
    };
    if ctx.version < 3 {
        let code = result.first().and_then(|l| l.error).map_or(0, |e| e.code());
        return Some(LeaveGroupResponse::default().with_error_code(code));
    }
    Some(
        LeaveGroupResponse::default().with_members(
            result
                .into_iter()
                .map(|l| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(l.member_id))
                        .with_group_instance_id(l.instance_id.map(str_bytes))
                        .with_error_code(l.error.map_or(0, |e| e.code()))
                })
                .collect(),
        ),
    )
}
