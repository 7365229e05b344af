//! DeleteAcls (key 31): ALTER on the cluster; each filter's matching ACLs are removed by
//! the active controller, which answers with what it removed.

use super::str_bytes;
use crate::quorum::controller::Command;
use crate::router::RequestContext;
use crate::security::acl::op;
use crate::security::authorizer::Authz;
use crate::security::commands::{SecurityCommand, SerdeFilter};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 3;

pub async fn handle(ctx: &RequestContext, req: DeleteAclsRequest) -> Option<DeleteAclsResponse> {
    let authz = Authz::new(ctx);
    let refusal = if !authz.enabled() {
        Some((
            ResponseError::SecurityDisabled,
            "no authorizer is configured on the broker (authorizer.class.name)",
        ))
    } else if !authz.cluster(op::ALTER) {
        Some((ResponseError::ClusterAuthorizationFailed, ""))
    } else {
        None
    };
    let mut results = Vec::with_capacity(req.filters.len());
    for f in req.filters {
        if let Some((code, msg)) = refusal {
            results.push(
                DeleteAclsFilterResult::default()
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(msg))),
            );
            continue;
        }
        let filter = SerdeFilter {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.map(|s| s.to_string()),
            pattern_type: f.pattern_type_filter,
            principal: f.principal_filter.map(|s| s.to_string()),
            host: f.host_filter.map(|s| s.to_string()),
            operation: f.operation,
            permission: f.permission_type,
        };
        let done = ctx
            .broker
            .submit(Command::Security(SecurityCommand::DeleteAcls { filter }))
            .await;
        results.push(match done {
            Ok(done) => DeleteAclsFilterResult::default().with_matching_acls(
                done.acls_deleted
                    .into_iter()
                    .map(|a| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(a.resource_type)
                            .with_resource_name(str_bytes(a.resource_name))
                            .with_pattern_type(a.pattern_type)
                            .with_principal(str_bytes(a.principal))
                            .with_host(str_bytes(a.host))
                            .with_operation(a.operation)
                            .with_permission_type(a.permission)
                    })
                    .collect(),
            ),
            Err(e) => DeleteAclsFilterResult::default()
                .with_error_code(e.code.code())
                .with_error_message(Some(str_bytes(e.message))),
        });
    }
    Some(DeleteAclsResponse::default().with_filter_results(results))
}
