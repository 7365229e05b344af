//! DescribeAcls (key 29): DESCRIBE on the cluster; the ACLs matching the filter, grouped
//! by resource pattern.

use super::str_bytes;
use crate::router::RequestContext;
use crate::security::acl::{op, AclFilter};
use crate::security::authorizer::Authz;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use std::collections::BTreeMap;

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 3;

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeAclsRequest,
) -> Option<DescribeAclsResponse> {
    let authz = Authz::new(ctx);
    let resp = DescribeAclsResponse::default();
    if !authz.enabled() {
        return Some(
            resp.with_error_code(ResponseError::SecurityDisabled.code())
                .with_error_message(Some(str_bytes(
                    "no authorizer is configured on the broker (authorizer.class.name)",
                ))),
        );
    }
    if !authz.cluster(op::DESCRIBE) {
        return Some(resp.with_error_code(ResponseError::ClusterAuthorizationFailed.code()));
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        resource_name: req.resource_name_filter.map(|s| s.to_string()),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.map(|s| s.to_string()),
        host: req.host_filter.map(|s| s.to_string()),
        operation: req.operation,
        permission: req.permission_type,
    };
    let image = ctx.broker.image();
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in image.acls.iter().filter(|a| filter.matches(a)) {
        by_resource
            .entry((
                acl.resource_type,
                acl.resource_name.clone(),
                acl.pattern_type,
            ))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(acl.principal.clone()))
                    .with_host(str_bytes(acl.host.clone()))
                    .with_operation(acl.operation)
                    .with_permission_type(acl.permission),
            );
    }
    let resources = by_resource
        .into_iter()
        .map(|((t, name, p), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(t)
                .with_resource_name(str_bytes(name))
                .with_pattern_type(p)
                .with_acls(acls)
        })
        .collect();
    Some(resp.with_resources(resources))
}
