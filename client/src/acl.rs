//! ACL bindings and filters with Kafka's codes and names (`ResourceType`, `PatternType`,
//! `AclOperation`, `AclPermissionType`), as DescribeAcls, CreateAcls and DeleteAcls carry them.

/// A code and Kafka's enum name for it.
type Names = &'static [(i8, &'static str)];

/// Kafka's `ResourceType`.
pub const RESOURCE_TYPES: Names = &[
    (1, "ANY"),
    (2, "TOPIC"),
    (3, "GROUP"),
    (4, "CLUSTER"),
    (5, "TRANSACTIONAL_ID"),
    (6, "DELEGATION_TOKEN"),
    (7, "USER"),
];
/// Kafka's `PatternType`.
pub const PATTERN_TYPES: Names = &[(1, "ANY"), (2, "MATCH"), (3, "LITERAL"), (4, "PREFIXED")];
/// Kafka's `AclOperation`.
pub const OPERATIONS: Names = &[
    (1, "ANY"),
    (2, "ALL"),
    (3, "READ"),
    (4, "WRITE"),
    (5, "CREATE"),
    (6, "DELETE"),
    (7, "ALTER"),
    (8, "DESCRIBE"),
    (9, "CLUSTER_ACTION"),
    (10, "DESCRIBE_CONFIGS"),
    (11, "ALTER_CONFIGS"),
    (12, "IDEMPOTENT_WRITE"),
    (13, "CREATE_TOKENS"),
    (14, "DESCRIBE_TOKENS"),
];
/// Kafka's `AclPermissionType`.
pub const PERMISSIONS: Names = &[(1, "ANY"), (2, "DENY"), (3, "ALLOW")];

/// The `ANY` code every one of these enums shares (a filter matching every value).
pub const ANY: i8 = 1;

/// Kafka's name for `code` in `names`, `UNKNOWN` when it has none.
pub fn name(names: Names, code: i8) -> &'static str {
    names
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("UNKNOWN", |(_, n)| n)
}

/// The code for `name` (case-insensitive; `-` and `_` alike, and Kafka's camel case spellings
/// such as `DescribeConfigs` or `TransactionalId`).
pub fn code(names: Names, name: &str) -> Option<i8> {
    let wanted: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    names
        .iter()
        .find(|(_, n)| n.replace('_', "") == wanted)
        .map(|(c, _)| *c)
}

/// One ACL: who (`principal` from `host`) may or may not (`permission`) do `operation` to the
/// resources `resource_name` names under `pattern_type`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AclBinding {
    /// [`RESOURCE_TYPES`] code.
    pub resource_type: i8,
    /// A name, a prefix, or `*` for every resource of the type.
    pub resource_name: String,
    /// [`PATTERN_TYPES`] code: LITERAL or PREFIXED.
    pub pattern_type: i8,
    /// `User:alice`, or `User:*`.
    pub principal: String,
    /// A client address, or `*`.
    pub host: String,
    /// [`OPERATIONS`] code.
    pub operation: i8,
    /// [`PERMISSIONS`] code: ALLOW or DENY.
    pub permission: i8,
}

/// Which ACLs to describe or delete: `None` and [`ANY`] match every value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    /// [`RESOURCE_TYPES`] code or [`ANY`].
    pub resource_type: i8,
    /// An exact name (with LITERAL/PREFIXED/ANY), a name to match (with MATCH), or any.
    pub resource_name: Option<String>,
    /// [`PATTERN_TYPES`] code: ANY, MATCH, LITERAL or PREFIXED.
    pub pattern_type: i8,
    /// A principal, or any.
    pub principal: Option<String>,
    /// A host, or any.
    pub host: Option<String>,
    /// [`OPERATIONS`] code or [`ANY`].
    pub operation: i8,
    /// [`PERMISSIONS`] code or [`ANY`].
    pub permission: i8,
}

impl Default for AclFilter {
    /// Matches every ACL.
    fn default() -> Self {
        AclFilter {
            resource_type: ANY,
            resource_name: None,
            pattern_type: ANY,
            principal: None,
            host: None,
            operation: ANY,
            permission: ANY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_follow_kafka() {
        assert_eq!(code(OPERATIONS, "Read"), Some(3));
        assert_eq!(code(OPERATIONS, "DescribeConfigs"), Some(10));
        assert_eq!(code(OPERATIONS, "describe-configs"), Some(10));
        assert_eq!(code(RESOURCE_TYPES, "TransactionalId"), Some(5));
        assert_eq!(code(PATTERN_TYPES, "prefixed"), Some(4));
        assert_eq!(code(PERMISSIONS, "frobnicate"), None);
        assert_eq!(name(OPERATIONS, 12), "IDEMPOTENT_WRITE");
        assert_eq!(name(PERMISSIONS, 9), "UNKNOWN");
    }
}
