//! Security metadata: SCRAM credentials and ACLs, stored in the metadata log so every
//! broker authenticates and authorizes alike. Plain data; the broker holds the logic.

use serde::{Deserialize, Serialize};

/// One user's SCRAM credential for one mechanism: never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub iterations: i32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

/// One ACL, Kafka's `AclBinding`, with Kafka's numeric codes (resource type, pattern
/// type, operation, permission) so it maps one to one onto the protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    /// `User:alice`.
    pub principal: String,
    /// `*` or an IP address.
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}
