//! Kafka's ACL model and the StandardAuthorizer's decision, sans-IO.
//!
//! An ACL binds a resource pattern (type; LITERAL name, the `*` wildcard, or PREFIXED) to a
//! principal (or `User:*`), a host (or `*`), an operation and ALLOW or DENY. A request is
//! allowed when no matching DENY exists and a matching ALLOW does; READ, WRITE, DELETE and
//! ALTER imply DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS, ALL implies everything.
//! Super users bypass ACLs; a resource no ACL matches at all is open only with
//! `allow.everyone.if.no.acl.found`.

use super::Principal;
use fjord_metadata::security::AclBinding;
use std::collections::BTreeSet;

/// Kafka's `ResourceType` codes.
pub mod resource {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const DELEGATION_TOKEN: i8 = 6;
    pub const USER: i8 = 7;
    /// The one CLUSTER resource's name.
    pub const CLUSTER_NAME: &str = "kafka-cluster";
}

/// Kafka's `PatternType` codes.
pub mod pattern {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

/// Kafka's `AclOperation` codes.
pub mod op {
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
    pub const CREATE_TOKENS: i8 = 13;
    pub const DESCRIBE_TOKENS: i8 = 14;
}

/// Kafka's `AclPermissionType` codes.
pub mod permission {
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// The wildcard resource name and principal.
pub const WILDCARD: &str = "*";
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// Why an ACL cannot be created (INVALID_REQUEST with this message, as Kafka).
pub fn validate(acl: &AclBinding) -> Result<(), String> {
    if !(resource::TOPIC..=resource::USER).contains(&acl.resource_type) {
        return Err("resource type must be a concrete type (not ANY or UNKNOWN)".into());
    }
    if acl.pattern_type != pattern::LITERAL && acl.pattern_type != pattern::PREFIXED {
        return Err("pattern type must be LITERAL or PREFIXED".into());
    }
    if acl.resource_name.is_empty() {
        return Err("resource name must not be empty".into());
    }
    if acl.resource_type == resource::CLUSTER && acl.resource_name != resource::CLUSTER_NAME {
        return Err("the CLUSTER resource is named kafka-cluster".into());
    }
    if !(op::ALL..=op::DESCRIBE_TOKENS).contains(&acl.operation) {
        return Err("operation must be a concrete operation (not ANY or UNKNOWN)".into());
    }
    if acl.permission != permission::ALLOW && acl.permission != permission::DENY {
        return Err("permission must be ALLOW or DENY".into());
    }
    if Principal::parse(&acl.principal).is_none() {
        return Err(format!("principal `{}` is not Type:name", acl.principal));
    }
    if acl.host.is_empty() {
        return Err("host must be * or an address".into());
    }
    Ok(())
}

/// A DescribeAcls / DeleteAcls filter (Kafka's `AclBindingFilter`): `None` fields match any.
#[derive(Debug, Clone, Default)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl AclFilter {
    /// Whether `acl` matches, Kafka's `AclBindingFilter.matches`: with pattern MATCH, the
    /// filter's name is a concrete resource and the ACL applies to it (literal, wildcard or
    /// prefix); with LITERAL/PREFIXED the ACL must have that exact pattern.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        let type_ok =
            self.resource_type == resource::ANY || self.resource_type == acl.resource_type;
        let pattern_ok = match self.pattern_type {
            pattern::ANY => self
                .resource_name
                .as_ref()
                .is_none_or(|n| *n == acl.resource_name),
            pattern::MATCH => match &self.resource_name {
                None => true,
                Some(n) => pattern_applies(acl, n),
            },
            p => {
                p == acl.pattern_type
                    && self
                        .resource_name
                        .as_ref()
                        .is_none_or(|n| *n == acl.resource_name)
            }
        };
        type_ok
            && pattern_ok
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == op::ANY || self.operation == acl.operation)
            && (self.permission == permission::ANY || self.permission == acl.permission)
    }
}

/// Whether `acl`'s resource pattern covers the concrete resource `name`.
fn pattern_applies(acl: &AclBinding, name: &str) -> bool {
    match acl.pattern_type {
        pattern::LITERAL => acl.resource_name == name || acl.resource_name == WILDCARD,
        pattern::PREFIXED => name.starts_with(acl.resource_name.as_str()),
        _ => false,
    }
}

/// Whether an ALLOW for `granted` also allows `wanted`.
fn implies(granted: i8, wanted: i8) -> bool {
    granted == wanted
        || granted == op::ALL
        || (wanted == op::DESCRIBE
            && matches!(granted, op::READ | op::WRITE | op::DELETE | op::ALTER))
        || (wanted == op::DESCRIBE_CONFIGS && granted == op::ALTER_CONFIGS)
}

/// What the authorizer needs beside the ACLs.
pub struct Policy<'a> {
    pub super_users: &'a [Principal],
    pub allow_everyone_if_no_acl: bool,
}

/// The decision for `principal` connecting from `host` doing `operation` on a resource.
pub fn authorize(
    acls: &BTreeSet<AclBinding>,
    policy: &Policy<'_>,
    principal: &Principal,
    host: &str,
    operation: i8,
    resource_type: i8,
    name: &str,
) -> bool {
    if policy.super_users.contains(principal) {
        return true;
    }
    let who = principal.to_string();
    let mut any_for_resource = false;
    let mut allowed = false;
    for acl in acls {
        if acl.resource_type != resource_type || !pattern_applies(acl, name) {
            continue;
        }
        any_for_resource = true;
        let principal_ok = acl.principal == who || acl.principal == WILDCARD_PRINCIPAL;
        let host_ok = acl.host == WILDCARD || acl.host == host;
        if !principal_ok || !host_ok {
            continue;
        }
        if acl.permission == permission::DENY
            && (acl.operation == operation || acl.operation == op::ALL)
        {
            return false;
        }
        if acl.permission == permission::ALLOW && implies(acl.operation, operation) {
            allowed = true;
        }
    }
    allowed || (!any_for_resource && policy.allow_everyone_if_no_acl)
}

/// Whether `principal` may do `operation` on at least one resource of `resource_type`
/// (Kafka's `authorizeByResourceType`, used for idempotent producers): some ALLOW applies
/// and no DENY on the wildcard or a covering prefix takes it away.
pub fn authorize_any(
    acls: &BTreeSet<AclBinding>,
    policy: &Policy<'_>,
    principal: &Principal,
    host: &str,
    operation: i8,
    resource_type: i8,
) -> bool {
    if policy.super_users.contains(principal) {
        return true;
    }
    let who = principal.to_string();
    let applies = |acl: &AclBinding| {
        acl.resource_type == resource_type
            && (acl.principal == who || acl.principal == WILDCARD_PRINCIPAL)
            && (acl.host == WILDCARD || acl.host == host)
    };
    let denied_everywhere = acls.iter().any(|a| {
        applies(a)
            && a.permission == permission::DENY
            && (a.operation == operation || a.operation == op::ALL)
            && a.pattern_type == pattern::LITERAL
            && a.resource_name == WILDCARD
    });
    if denied_everywhere {
        return false;
    }
    acls.iter().any(|a| {
        applies(a)
            && a.permission == permission::ALLOW
            && implies(a.operation, operation)
            && !acls.iter().any(|d| {
                applies(d)
                    && d.permission == permission::DENY
                    && (d.operation == operation || d.operation == op::ALL)
                    && pattern_applies(d, &a.resource_name)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(rt: i8, name: &str, pt: i8, who: &str, operation: i8, perm: i8) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pt,
            principal: who.into(),
            host: "*".into(),
            operation,
            permission: perm,
        }
    }

    fn policy() -> Policy<'static> {
        Policy {
            super_users: &[],
            allow_everyone_if_no_acl: false,
        }
    }

    #[test]
    fn prefixed_read_allows_matching_topics_only_and_implies_describe() {
        let acls: BTreeSet<_> = [acl(
            resource::TOPIC,
            "app-",
            pattern::PREFIXED,
            "User:alice",
            op::READ,
            permission::ALLOW,
        )]
        .into();
        let alice = Principal::user("alice");
        let p = policy();
        let can = |o, n| authorize(&acls, &p, &alice, "1.2.3.4", o, resource::TOPIC, n);
        assert!(can(op::READ, "app-orders"));
        assert!(can(op::DESCRIBE, "app-orders"));
        assert!(!can(op::WRITE, "app-orders"));
        assert!(!can(op::DELETE, "app-orders"));
        assert!(!can(op::READ, "billing"));
        assert!(!authorize(
            &acls,
            &p,
            &Principal::user("bob"),
            "h",
            op::READ,
            resource::TOPIC,
            "app-orders"
        ));
    }

    #[test]
    fn deny_beats_allow_and_super_users_bypass() {
        let acls: BTreeSet<_> = [
            acl(
                resource::TOPIC,
                "*",
                pattern::LITERAL,
                "User:*",
                op::ALL,
                permission::ALLOW,
            ),
            acl(
                resource::TOPIC,
                "secret",
                pattern::LITERAL,
                "User:alice",
                op::READ,
                permission::DENY,
            ),
        ]
        .into();
        let alice = Principal::user("alice");
        let p = policy();
        assert!(!authorize(
            &acls,
            &p,
            &alice,
            "h",
            op::READ,
            resource::TOPIC,
            "secret"
        ));
        assert!(authorize(
            &acls,
            &p,
            &alice,
            "h",
            op::READ,
            resource::TOPIC,
            "other"
        ));
        let supers = [alice.clone()];
        let sp = Policy {
            super_users: &supers,
            allow_everyone_if_no_acl: false,
        };
        assert!(authorize(
            &acls,
            &sp,
            &alice,
            "h",
            op::READ,
            resource::TOPIC,
            "secret"
        ));
    }

    #[test]
    fn hosts_filter_and_no_acl_default() {
        let mut a = acl(
            resource::GROUP,
            "g",
            pattern::LITERAL,
            "User:alice",
            op::READ,
            permission::ALLOW,
        );
        a.host = "10.0.0.1".into();
        let acls: BTreeSet<_> = [a].into();
        let alice = Principal::user("alice");
        let p = policy();
        assert!(authorize(
            &acls,
            &p,
            &alice,
            "10.0.0.1",
            op::READ,
            resource::GROUP,
            "g"
        ));
        assert!(!authorize(
            &acls,
            &p,
            &alice,
            "10.0.0.2",
            op::READ,
            resource::GROUP,
            "g"
        ));
        // No ACL on the resource at all: allow.everyone.if.no.acl.found decides.
        assert!(!authorize(
            &acls,
            &p,
            &alice,
            "h",
            op::READ,
            resource::GROUP,
            "other"
        ));
        let open = Policy {
            super_users: &[],
            allow_everyone_if_no_acl: true,
        };
        assert!(authorize(
            &acls,
            &open,
            &alice,
            "h",
            op::READ,
            resource::GROUP,
            "other"
        ));
        assert!(!authorize(
            &acls,
            &open,
            &alice,
            "10.0.0.2",
            op::READ,
            resource::GROUP,
            "g"
        ));
    }

    #[test]
    fn alter_configs_implies_describe_configs_not_the_reverse() {
        let acls: BTreeSet<_> = [acl(
            resource::CLUSTER,
            resource::CLUSTER_NAME,
            pattern::LITERAL,
            "User:a",
            op::ALTER_CONFIGS,
            permission::ALLOW,
        )]
        .into();
        let a = Principal::user("a");
        let p = policy();
        let c = resource::CLUSTER_NAME;
        assert!(authorize(
            &acls,
            &p,
            &a,
            "h",
            op::DESCRIBE_CONFIGS,
            resource::CLUSTER,
            c
        ));
        assert!(!authorize(
            &acls,
            &p,
            &a,
            "h",
            op::ALTER,
            resource::CLUSTER,
            c
        ));
    }

    #[test]
    fn write_on_some_topic_counts_for_idempotence() {
        let acls: BTreeSet<_> = [acl(
            resource::TOPIC,
            "t",
            pattern::LITERAL,
            "User:a",
            op::WRITE,
            permission::ALLOW,
        )]
        .into();
        let p = policy();
        assert!(authorize_any(
            &acls,
            &p,
            &Principal::user("a"),
            "h",
            op::WRITE,
            resource::TOPIC
        ));
        assert!(!authorize_any(
            &acls,
            &p,
            &Principal::user("b"),
            "h",
            op::WRITE,
            resource::TOPIC
        ));
    }

    #[test]
    fn filters_match_as_kafka() {
        let a = acl(
            resource::TOPIC,
            "app-",
            pattern::PREFIXED,
            "User:a",
            op::READ,
            permission::ALLOW,
        );
        let any = AclFilter {
            resource_type: resource::ANY,
            pattern_type: pattern::ANY,
            operation: op::ANY,
            permission: permission::ANY,
            ..Default::default()
        };
        assert!(any.matches(&a));
        let by_match = AclFilter {
            resource_name: Some("app-orders".into()),
            pattern_type: pattern::MATCH,
            ..any.clone()
        };
        assert!(by_match.matches(&a));
        let literal = AclFilter {
            resource_name: Some("app-".into()),
            pattern_type: pattern::LITERAL,
            ..any
        };
        assert!(!literal.matches(&a));
    }
}
