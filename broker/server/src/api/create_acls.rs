//! CreateAcls (key 30): ALTER on the cluster; each ACL validated and committed to the
//! metadata log. Without an authorizer: SECURITY_DISABLED, as Kafka.

use super::str_bytes;
use crate::quorum::controller::Command;
use crate::router::RequestContext;
use crate::security::acl::op;
use crate::security::authorizer::Authz;
use crate::security::commands::SecurityCommand;
use fjord_metadata::security::AclBinding;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 3;

pub async fn handle(ctx: &RequestContext, req: CreateAclsRequest) -> Option<CreateAclsResponse> {
    let authz = Authz::new(ctx);
    let refuse = |code: ResponseError, msg: &str| {
        req.creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(msg)))
            })
            .collect()
    };
    let results = if !authz.enabled() {
        refuse(
            ResponseError::SecurityDisabled,
            "no authorizer is configured on the broker (authorizer.class.name)",
        )
    } else if !authz.cluster(op::ALTER) {
        refuse(ResponseError::ClusterAuthorizationFailed, "")
    } else {
        let mut results = Vec::with_capacity(req.creations.len());
        for c in &req.creations {
            let acl = AclBinding {
                resource_type: c.resource_type,
                resource_name: c.resource_name.to_string(),
                pattern_type: c.resource_pattern_type,
                principal: c.principal.to_string(),
                host: c.host.to_string(),
                operation: c.operation,
                permission: c.permission_type,
            };
            let outcome = match crate::security::acl::validate(&acl) {
                Err(m) => Err((ResponseError::InvalidRequest, m)),
                Ok(()) => ctx
                    .broker
                    .submit(Command::Security(SecurityCommand::CreateAcl { acl }))
                    .await
                    .map(|_| ())
                    .map_err(|e| (e.code, e.message)),
            };
            results.push(match outcome {
                Ok(()) => AclCreationResult::default(),
                Err((code, m)) => AclCreationResult::default()
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(m))),
            });
        }
        results
    };
    Some(CreateAclsResponse::default().with_results(results))
}
