//! DescribeGroups (key 15): state, protocol and members of each group. Member metadata
//! and assignments are shown only for a Stable group, as Kafka does.

use super::str_bytes;
use crate::router::RequestContext;
use crate::security::acl::{op, resource};
use crate::security::authorizer::Authz;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 5;

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeGroupsRequest,
) -> Option<DescribeGroupsResponse> {
    let groups = &ctx.broker.groups;
    let ready = groups.ready(&ctx.broker);
    let authz = Authz::new(ctx);
    let described = req
        .groups
        .iter()
        .map(|id| {
            let base = DescribedGroup::default().with_group_id(id.clone());
            if !authz.group(op::DESCRIBE, &id.0) {
                return base.with_error_code(
                    kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code(),
                );
            }
            // Kafka's authorized operations, for the groups the principal may describe.
            let base = base.with_authorized_operations(if req.include_authorized_operations {
                authz.operations(resource::GROUP, &id.0)
            } else {
                i32::MIN
            });
            if let Err(e) = ready {
                return base.with_error_code(e.code());
            }
            let d = match groups.read(&id.0, |c| c.describe(&id.0)) {
                Err(e) => return base.with_error_code(e.code()),
                // Kafka describes an unknown group as Dead with no error (before v6).
                Ok(None) => return base.with_group_state(str_bytes("Dead")),
                Ok(Some(d)) => d,
            };
            base.with_group_state(str_bytes(d.state.name()))
                .with_protocol_type(str_bytes(d.protocol_type))
                .with_protocol_data(str_bytes(d.protocol_data))
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(str_bytes(m.member_id))
                                .with_group_instance_id(m.instance_id.map(str_bytes))
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                )
        })
        .collect();
    Some(DescribeGroupsResponse::default().with_groups(described))
}
