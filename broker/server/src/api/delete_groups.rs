//! DeleteGroups (key 42): removes Empty groups and their offsets (tombstones in
//! `__consumer_offsets`); a group with members gets NON_EMPTY_GROUP.

use crate::router::RequestContext;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 2;

pub async fn handle(
    ctx: &RequestContext,
    req: DeleteGroupsRequest,
) -> Option<DeleteGroupsResponse> {
    let groups = &ctx.broker.groups;
    let ready = groups.ready(&ctx.broker);
    let mut results = Vec::new();
    for id in &req.groups_names {
        let error = match ready {
            _ if !crate::security::authorizer::Authz::new(ctx)
                .group(crate::security::acl::op::DELETE, &id.0) =>
            {
                Some(kafka_protocol::error::ResponseError::GroupAuthorizationFailed)
            }
            Err(e) => Some(e),
            Ok(()) => match groups.run(&id.0, |c, _| c.delete_group(&id.0)).await {
                Ok(r) => r.err(),
                Err(e) => Some(e),
            },
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id.clone())
                .with_error_code(error.map_or(0, |e| e.code())),
        );
    }
    Some(DeleteGroupsResponse::default().with_results(results))
}
