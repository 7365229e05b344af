//! `fjord acl list|create|delete`, with kafka-acls.sh's flags.

use fjord_client::acl::{
    self, AclBinding, AclFilter, ANY, OPERATIONS, PATTERN_TYPES, PERMISSIONS, RESOURCE_TYPES,
};
use fjord_client::AdminClient;
use serde::Serialize;

use crate::args::{AclCommand, AclCreateArgs, AclDeleteArgs, AclListArgs, Resources};
use crate::failure::Usage;
use crate::output::{self, Format, Report};
use crate::table;

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TRANSACTIONAL_ID: i8 = 5;
const DENY: i8 = 2;
const ALLOW: i8 = 3;
/// Kafka's pattern types that a binding (not only a filter) can have.
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;

/// One ACL as printed.
#[derive(Debug, Serialize)]
struct Acl {
    principal: String,
    host: String,
    operation: &'static str,
    permission: &'static str,
    resource_type: &'static str,
    resource_name: String,
    pattern_type: &'static str,
}

impl From<&AclBinding> for Acl {
    fn from(b: &AclBinding) -> Self {
        Acl {
            principal: b.principal.clone(),
            host: b.host.clone(),
            operation: acl::name(OPERATIONS, b.operation),
            permission: acl::name(PERMISSIONS, b.permission),
            resource_type: acl::name(RESOURCE_TYPES, b.resource_type),
            resource_name: b.resource_name.clone(),
            pattern_type: acl::name(PATTERN_TYPES, b.pattern_type),
        }
    }
}

#[derive(Debug, Serialize)]
struct AclList {
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    acls: Vec<Acl>,
}

impl Report for AclList {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .acls
            .iter()
            .map(|a| {
                vec![
                    a.principal.clone(),
                    a.host.clone(),
                    a.operation.to_owned(),
                    a.permission.to_owned(),
                    a.resource_type.to_owned(),
                    a.resource_name.clone(),
                    a.pattern_type.to_owned(),
                ]
            })
            .collect();
        let mut out = match self.action {
            Some(action) => format!("{action} {} ACL(s)\n", self.acls.len()),
            None => String::new(),
        };
        out.push_str(&table::render(
            &[
                "PRINCIPAL",
                "HOST",
                "OPERATION",
                "PERMISSION",
                "RESOURCE_TYPE",
                "NAME",
                "PATTERN",
            ],
            &rows,
        ));
        out
    }
}

pub async fn run(admin: &AdminClient, command: AclCommand, format: Format) -> anyhow::Result<()> {
    let report = match command {
        AclCommand::List(a) => list(admin, a).await?,
        AclCommand::Create(a) => create(admin, a).await?,
        AclCommand::Delete(a) => delete(admin, a).await?,
    };
    output::print(&report, format)
}

async fn list(admin: &AdminClient, a: AclListArgs) -> anyhow::Result<AclList> {
    let default_pattern = if a.resources.is_empty() {
        "any"
    } else {
        "literal"
    };
    let pattern = code(
        PATTERN_TYPES,
        a.resource_pattern_type
            .as_deref()
            .unwrap_or(default_pattern),
        "--resource-pattern-type",
    )?;
    let template = AclFilter {
        pattern_type: pattern,
        principal: a.principal.map(|p| principal(&p)).transpose()?,
        host: a.host,
        operation: a
            .operation
            .map(|o| code(OPERATIONS, &o, "--operation"))
            .transpose()?
            .unwrap_or(ANY),
        permission: a
            .permission
            .map(|p| code(PERMISSIONS, &p, "--permission"))
            .transpose()?
            .unwrap_or(ANY),
        ..AclFilter::default()
    };
    let filters = if a.resources.is_empty() {
        vec![template]
    } else {
        resources(&a.resources)
            .into_iter()
            .map(|(resource_type, name)| AclFilter {
                resource_type,
                resource_name: Some(name),
                ..template.clone()
            })
            .collect()
    };
    let mut acls = Vec::new();
    for f in &filters {
        acls.extend(admin.describe_acls(f).await?);
    }
    acls.sort();
    acls.dedup();
    Ok(AclList {
        action: None,
        acls: acls.iter().map(Acl::from).collect(),
    })
}

async fn create(admin: &AdminClient, a: AclCreateArgs) -> anyhow::Result<AclList> {
    let pattern = scoped(&a.resources, &a.resource_pattern_type)?;
    if pattern != LITERAL && pattern != PREFIXED {
        return Err(Usage(format!(
            "--resource-pattern-type {} cannot be created: literal or prefixed",
            a.resource_pattern_type
        ))
        .into());
    }
    let operations = operations(&a.operation)?;
    if operations.contains(&ANY) {
        return Err(Usage("--operation Any matches ACLs; it cannot be granted".into()).into());
    }
    let mut bindings = Vec::new();
    for (permission, principal) in principals(&a.allow_principal, &a.deny_principal)? {
        for (resource_type, name) in resources(&a.resources) {
            for &operation in &operations {
                bindings.push(AclBinding {
                    resource_type,
                    resource_name: name.clone(),
                    pattern_type: pattern,
                    principal: principal.clone(),
                    host: a.host.clone(),
                    operation,
                    permission,
                });
            }
        }
    }
    admin.create_acls(&bindings).await?;
    bindings.sort();
    Ok(AclList {
        action: Some("created"),
        acls: bindings.iter().map(Acl::from).collect(),
    })
}

async fn delete(admin: &AdminClient, a: AclDeleteArgs) -> anyhow::Result<AclList> {
    let pattern = scoped(&a.resources, &a.resource_pattern_type)?;
    let operations = if a.operation.is_empty() {
        vec![ANY]
    } else {
        operations(&a.operation)?
    };
    let mut who: Vec<(i8, Option<String>)> = principals(&a.allow_principal, &a.deny_principal)?
        .into_iter()
        .map(|(permission, p)| (permission, Some(p)))
        .collect();
    if who.is_empty() {
        who.push((ANY, None));
    }
    let mut filters = Vec::new();
    for (resource_type, name) in resources(&a.resources) {
        for (permission, principal) in &who {
            for &operation in &operations {
                filters.push(AclFilter {
                    resource_type,
                    resource_name: Some(name.clone()),
                    pattern_type: pattern,
                    principal: principal.clone(),
                    host: a.host.clone(),
                    operation,
                    permission: *permission,
                });
            }
        }
    }
    let mut deleted = admin.delete_acls(&filters).await?;
    deleted.dedup();
    Ok(AclList {
        action: Some("deleted"),
        acls: deleted.iter().map(Acl::from).collect(),
    })
}

/// The pattern type of a create or delete, which must name a resource (`*` for every
/// resource of a type).
fn scoped(resources: &Resources, pattern_type: &str) -> anyhow::Result<i8> {
    if resources.is_empty() {
        return Err(Usage(
            "name a resource: --topic, --group, --transactional-id or --cluster (`*` for \
             every resource of a type)"
                .into(),
        )
        .into());
    }
    code(PATTERN_TYPES, pattern_type, "--resource-pattern-type")
}

/// `(resource type, name)` of every resource named; the cluster is `kafka-cluster`.
fn resources(r: &Resources) -> Vec<(i8, String)> {
    let mut out = Vec::new();
    out.extend(r.topic.iter().map(|t| (TOPIC, t.clone())));
    out.extend(r.group.iter().map(|g| (GROUP, g.clone())));
    out.extend(
        r.transactional_id
            .iter()
            .map(|t| (TRANSACTIONAL_ID, t.clone())),
    );
    if r.cluster {
        out.push((CLUSTER, "kafka-cluster".to_owned()));
    }
    out
}

fn code(names: &'static [(i8, &'static str)], value: &str, flag: &str) -> anyhow::Result<i8> {
    acl::code(names, value).ok_or_else(|| {
        let known: Vec<&str> = names.iter().map(|(_, n)| *n).collect();
        Usage(format!(
            "{flag} {value:?} is not one of {}",
            known.join(", ").to_lowercase()
        ))
        .into()
    })
}

/// `--operation` values as codes.
fn operations(names: &[String]) -> anyhow::Result<Vec<i8>> {
    names
        .iter()
        .map(|o| code(OPERATIONS, o, "--operation"))
        .collect()
}

/// `(ALLOW, principal)` for each allowed and `(DENY, principal)` for each denied principal.
fn principals(allow: &[String], deny: &[String]) -> anyhow::Result<Vec<(i8, String)>> {
    let allowed = allow.iter().map(|p| (ALLOW, p));
    let denied = deny.iter().map(|p| (DENY, p));
    allowed
        .chain(denied)
        .map(|(permission, p)| Ok((permission, principal(p)?)))
        .collect()
}

/// `Type:name`, as Kafka's principals are written.
fn principal(p: &str) -> anyhow::Result<String> {
    match p.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(p.to_owned()),
        _ => Err(Usage(format!(
            "principal {p:?} is not Type:name (e.g. User:alice)"
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_need_a_type_and_operations_a_known_name() {
        assert!(principal("User:alice").is_ok());
        assert!(principal("alice").unwrap_err().is::<Usage>());
        assert_eq!(code(OPERATIONS, "describe", "--operation").unwrap(), 8);
        assert!(code(OPERATIONS, "fly", "--operation")
            .unwrap_err()
            .is::<Usage>());
    }

    #[test]
    fn every_named_resource_is_listed_and_the_cluster_has_kafkas_name() {
        let r = Resources {
            topic: vec!["a".into(), "b".into()],
            group: vec!["g".into()],
            transactional_id: vec![],
            cluster: true,
        };
        assert_eq!(
            resources(&r),
            vec![
                (TOPIC, "a".into()),
                (TOPIC, "b".into()),
                (GROUP, "g".into()),
                (CLUSTER, "kafka-cluster".into())
            ]
        );
    }
}
