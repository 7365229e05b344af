//! ListGroups (key 16): every group on this coordinator (v4+: filtered by state,
//! v5+: by type; every group here is `classic`).

use super::str_bytes;
use crate::group::GroupState;
use crate::router::RequestContext;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 5;

pub async fn handle(ctx: &RequestContext, req: ListGroupsRequest) -> Option<ListGroupsResponse> {
    let groups = &ctx.broker.groups;
    if let Err(e) = groups.ready(&ctx.broker) {
        return Some(ListGroupsResponse::default().with_error_code(e.code()));
    }
    let wants_classic = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case("classic"));
    // An unknown state name matches nothing, as in Kafka.
    let states: Vec<Option<GroupState>> = req
        .states_filter
        .iter()
        .map(|s| GroupState::parse(s))
        .collect();
    let listed = groups
        .list(&[])
        .into_iter()
        .filter(|_| wants_classic)
        .filter(|g| states.is_empty() || states.contains(&Some(g.state)))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_group_state(str_bytes(g.state.name()))
                .with_group_type(str_bytes("classic"))
        })
        .collect();
    Some(ListGroupsResponse::default().with_groups(listed))
}
