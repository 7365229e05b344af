//! ListGroups (key 16): every group on this coordinator (v4+: filtered by state,
//! v5+: by type, `classic` or `consumer`). A KIP-848 group lists with protocol type
//! `consumer` and its own states (Empty, Assigning, Reconciling, Stable).

use super::str_bytes;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 5;

pub async fn handle(ctx: &RequestContext, req: ListGroupsRequest) -> Option<ListGroupsResponse> {
    let groups = &ctx.broker.groups;
    if let Err(e) = groups.ready(&ctx.broker) {
        return Some(ListGroupsResponse::default().with_error_code(e.code()));
    }
    // Kafka matches both filters case-insensitively; an unknown name matches nothing.
    let types: Vec<&str> = req.types_filter.iter().map(|t| t.as_str()).collect();
    let states: Vec<&str> = req.states_filter.iter().map(|s| s.as_str()).collect();
    let authz = crate::security::authorizer::Authz::new(ctx);
    let whole_cluster = authz.cluster(crate::security::acl::op::DESCRIBE);
    let listed = groups
        .list(&[])
        .into_iter()
        .filter(|g| whole_cluster || authz.group(crate::security::acl::op::DESCRIBE, &g.group_id))
        .filter(|g| types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(g.group_type)))
        .filter(|g| {
            states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(g.state_name))
        })
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_group_state(str_bytes(g.state_name))
                .with_group_type(str_bytes(g.group_type))
        })
        .collect();
    // Kafka lists what it has loaded and says a part is still loading.
    let error = if groups.loading() {
        ResponseError::CoordinatorLoadInProgress.code()
    } else {
        0
    };
    Some(
        ListGroupsResponse::default()
            .with_error_code(error)
            .with_groups(listed),
    )
}
