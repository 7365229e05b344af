//! DescribeAcls, CreateAcls and DeleteAcls (v1 on: pattern types, KIP-290).

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::{Message, StrBytes};

use super::{from_version, AdminClient, Retry};
use crate::acl::{AclBinding, AclFilter};
use crate::ClientError;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn optional(s: &Option<String>) -> Option<StrBytes> {
    s.as_deref().map(text)
}

impl AdminClient {
    /// The ACLs matching `filter`, sorted.
    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, ClientError> {
        let (response, _) = self
            .call(
                from_version(1, DescribeAclsRequest::VERSIONS),
                Retry::Once,
                |_| {
                    DescribeAclsRequest::default()
                        .with_resource_type_filter(filter.resource_type)
                        .with_resource_name_filter(optional(&filter.resource_name))
                        .with_pattern_type_filter(filter.pattern_type)
                        .with_principal_filter(optional(&filter.principal))
                        .with_host_filter(optional(&filter.host))
                        .with_operation(filter.operation)
                        .with_permission_type(filter.permission)
                },
            )
            .await?;
        ClientError::check(
            "DescribeAcls",
            response.error_code,
            response.error_message.as_deref(),
        )?;
        let mut out: Vec<AclBinding> = response
            .resources
            .iter()
            .flat_map(|r| {
                r.acls.iter().map(|a| AclBinding {
                    resource_type: r.resource_type,
                    resource_name: r.resource_name.to_string(),
                    pattern_type: r.pattern_type,
                    principal: a.principal.to_string(),
                    host: a.host.to_string(),
                    operation: a.operation,
                    permission: a.permission_type,
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Creates `bindings`; the first refusal is the error (the others may have been created).
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<(), ClientError> {
        let creations: Vec<AclCreation> = bindings
            .iter()
            .map(|b| {
                AclCreation::default()
                    .with_resource_type(b.resource_type)
                    .with_resource_name(text(&b.resource_name))
                    .with_resource_pattern_type(b.pattern_type)
                    .with_principal(text(&b.principal))
                    .with_host(text(&b.host))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission)
            })
            .collect();
        let (response, _) = self
            .call(
                from_version(1, CreateAclsRequest::VERSIONS),
                Retry::Never,
                |_| CreateAclsRequest::default().with_creations(creations.clone()),
            )
            .await?;
        for r in &response.results {
            ClientError::check("CreateAcls", r.error_code, r.error_message.as_deref())?;
        }
        Ok(())
    }

    /// Deletes the ACLs matching any of `filters`; returns those deleted, sorted.
    pub async fn delete_acls(&self, filters: &[AclFilter]) -> Result<Vec<AclBinding>, ClientError> {
        let wire: Vec<DeleteAclsFilter> = filters
            .iter()
            .map(|f| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(f.resource_type)
                    .with_resource_name_filter(optional(&f.resource_name))
                    .with_pattern_type_filter(f.pattern_type)
                    .with_principal_filter(optional(&f.principal))
                    .with_host_filter(optional(&f.host))
                    .with_operation(f.operation)
                    .with_permission_type(f.permission)
            })
            .collect();
        let (response, _) = self
            .call(
                from_version(1, DeleteAclsRequest::VERSIONS),
                Retry::Never,
                |_| DeleteAclsRequest::default().with_filters(wire.clone()),
            )
            .await?;
        let mut deleted = Vec::new();
        for r in &response.filter_results {
            ClientError::check("DeleteAcls", r.error_code, r.error_message.as_deref())?;
            for m in &r.matching_acls {
                ClientError::check("DeleteAcls", m.error_code, m.error_message.as_deref())?;
                deleted.push(AclBinding {
                    resource_type: m.resource_type,
                    resource_name: m.resource_name.to_string(),
                    pattern_type: m.pattern_type,
                    principal: m.principal.to_string(),
                    host: m.host.to_string(),
                    operation: m.operation,
                    permission: m.permission_type,
                });
            }
        }
        deleted.sort();
        Ok(deleted)
    }
}
