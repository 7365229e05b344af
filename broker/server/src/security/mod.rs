//! Kafka's security layer: TLS listeners, SASL authentication, principals, and (with an
//! authorizer configured) ACLs.
//!
//! The connection asks this module three things: how to wrap an accepted socket (`tls`),
//! whether a request may run before authentication and how to answer the SASL exchange
//! (`sasl`), and who the client is (`Principal`). The rules are sans-IO where they can be
//! (`principal_rules`, `jaas`, `scram`, `x509`), so they are tested without sockets.

pub mod accept;
pub mod acl;
pub mod authorizer;
pub mod commands;
pub mod jaas;
pub mod principal_rules;
pub mod sasl;
pub mod scram;
pub mod tls;
pub mod x509;

use crate::config::ConfigError;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Kafka's four security protocols (shared with the client side; names are read
/// case-insensitively, as Kafka's `SecurityProtocol.forName` does).
pub use fjord_client::security::SecurityProtocol;

/// Who a client is, Kafka's `KafkaPrincipal`: `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal {
    pub kind: String,
    pub name: String,
}

impl Principal {
    pub fn user(name: impl Into<String>) -> Principal {
        Principal {
            kind: "User".into(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`: a PLAINTEXT client, or a TLS client without a certificate.
    pub fn anonymous() -> Principal {
        Principal::user("ANONYMOUS")
    }

    /// Parses `Type:name` (the name may itself contain colons).
    pub fn parse(s: &str) -> Option<Principal> {
        let (kind, name) = s.trim().split_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Principal {
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// SASL mechanisms this broker can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    pub fn parse(v: &str) -> Option<Mechanism> {
        match v.trim() {
            "PLAIN" => Some(Mechanism::Plain),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(Mechanism::ScramSha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// Where a listener's certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `ssl.keystore.location`: one PEM file with the chain and the key (re-read when it changes).
    File(PathBuf),
    /// `ssl.keystore.certificate.chain` + `ssl.keystore.key`, inline PEM.
    Inline { chain: String, key: String },
}

/// Where the CAs trusted for client certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    File(PathBuf),
    Inline(String),
}

/// One TLS listener's settings.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub keystore: KeySource,
    pub truststore: Option<TrustSource>,
    pub client_auth: ClientAuth,
    pub rules: principal_rules::PrincipalRules,
}

/// The security settings of the broker listener and the controller listener.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// The broker listener's protocol.
    pub protocol: SecurityProtocol,
    /// The controller listener's protocol (PLAINTEXT or SSL).
    pub controller_protocol: SecurityProtocol,
    /// The broker listener's TLS settings, when it uses TLS.
    pub tls: Option<TlsSettings>,
    /// The controller listener's TLS settings, when it uses TLS.
    pub controller_tls: Option<TlsSettings>,
    /// `sasl.enabled.mechanisms`, on a SASL broker listener.
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN users from the JAAS config (`user_<name>="<password>"`).
    pub plain_users: BTreeMap<String, String>,
    /// `connections.max.reauth.ms` (0: sessions never expire).
    pub reauth_ms: u64,
    /// `connection.failed.authentication.delay.ms`: a failed authentication is answered
    /// this late.
    pub failed_auth_delay_ms: u64,
    /// `authorizer.class.name` names Kafka's StandardAuthorizer.
    pub authorizer: bool,
    /// `super.users`.
    pub super_users: Vec<Principal>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_everyone_if_no_acl: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            protocol: SecurityProtocol::Plaintext,
            controller_protocol: SecurityProtocol::Plaintext,
            tls: None,
            controller_tls: None,
            mechanisms: Vec::new(),
            plain_users: BTreeMap::new(),
            reauth_ms: 0,
            failed_auth_delay_ms: 100,
            authorizer: false,
            super_users: Vec::new(),
            allow_everyone_if_no_acl: false,
        }
    }
}

/// Keys that Kafka lets a listener override as `listener.name.<listener>.<key>`.
const LISTENER_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.principal.mapping.rules",
    "sasl.enabled.mechanisms",
    "connections.max.reauth.ms",
];

/// Kafka's authorizer class names accepted by `authorizer.class.name`.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// Whether `key` is a per-listener override this broker understands:
/// `listener.name.<l>.<security key>` or `listener.name.<l>.<mechanism>.sasl.jaas.config`.
pub fn is_listener_override(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let Some(rest) = key.strip_prefix("listener.name.") else {
        return false;
    };
    let Some((_, suffix)) = rest.split_once('.') else {
        return false;
    };
    if LISTENER_KEYS.contains(&suffix) {
        return true;
    }
    match suffix.split_once('.') {
        Some((mech, "sasl.jaas.config")) => Mechanism::parse(&mech.to_ascii_uppercase()).is_some(),
        _ => false,
    }
}

impl SecurityConfig {
    /// Builds the settings from the effective keys (`get`) and the per-listener overrides.
    pub fn from_settings(
        effective: &BTreeMap<&'static str, String>,
        prefixed: &BTreeMap<String, String>,
        broker_listener: &str,
        controller_listener: Option<&str>,
        broker_protocol: &str,
        controller_protocol: &str,
    ) -> Result<SecurityConfig, ConfigError> {
        let get = |k: &str| effective.get(k).map(String::as_str).unwrap_or("");
        let invalid = |key: &str, value: &str, reason: String| ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason,
        };
        let protocol = SecurityProtocol::parse(broker_protocol).ok_or_else(|| {
            invalid(
                "listener.security.protocol.map",
                broker_protocol,
                "unknown security protocol".into(),
            )
        })?;
        let controller_protocol =
            SecurityProtocol::parse(controller_protocol).unwrap_or(SecurityProtocol::Plaintext);
        let lookup = |listener: &str, key: &str| -> String {
            let over = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
            prefixed
                .get(&over)
                .cloned()
                .unwrap_or_else(|| get(key).to_string())
        };
        let tls = match protocol.uses_tls() {
            true => Some(tls_settings(&|k| lookup(broker_listener, k))?),
            false => None,
        };
        let controller_tls = match (controller_protocol.uses_tls(), controller_listener) {
            (true, Some(name)) => {
                let settings = tls_settings(&|k| lookup(name, k))?;
                // The controller listener's peers authenticate with their certificates (its
                // RPC has no SASL): anything less would leave the quorum an open door.
                if settings.client_auth != ClientAuth::Required || settings.truststore.is_none() {
                    let key = format!(
                        "listener.name.{}.ssl.client.auth",
                        name.to_ascii_lowercase()
                    );
                    return Err(invalid(
                        &key,
                        &lookup(name, "ssl.client.auth"),
                        "an SSL controller listener authenticates its peers by certificate: set ssl.client.auth=required and a trust store (ssl.truststore.location or ssl.truststore.certificates) for it".into(),
                    ));
                }
                Some(settings)
            }
            _ => None,
        };
        let mut mechanisms = Vec::new();
        let mut plain_users = BTreeMap::new();
        if protocol.uses_sasl() {
            let enabled = lookup(broker_listener, "sasl.enabled.mechanisms");
            for m in enabled.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                match Mechanism::parse(m) {
                    Some(m) => mechanisms.push(m),
                    None => {
                        return Err(invalid(
                            "sasl.enabled.mechanisms",
                            &enabled,
                            format!("{m} is not built: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are"),
                        ))
                    }
                }
            }
            if mechanisms.is_empty() {
                return Err(invalid(
                    "sasl.enabled.mechanisms",
                    &enabled,
                    "a SASL listener needs at least one mechanism".into(),
                ));
            }
            if mechanisms.contains(&Mechanism::Plain) {
                let over = format!(
                    "listener.name.{}.plain.sasl.jaas.config",
                    broker_listener.to_ascii_lowercase()
                );
                let (key, jaas) = match prefixed.get(&over) {
                    Some(v) => (over.as_str(), v.clone()),
                    None => ("sasl.jaas.config", get("sasl.jaas.config").to_string()),
                };
                plain_users = jaas::plain_users(&jaas).map_err(|r| invalid(key, "(hidden)", r))?;
            }
        }
        let reauth = lookup(broker_listener, "connections.max.reauth.ms");
        let reauth_ms = reauth.trim().parse::<u64>().map_err(|_| {
            invalid(
                "connections.max.reauth.ms",
                &reauth,
                "must be a non-negative integer".into(),
            )
        })?;
        let authorizer = match get("authorizer.class.name").trim() {
            "" => false,
            STANDARD_AUTHORIZER | "kafka.security.authorizer.AclAuthorizer" | "standard" => true,
            other => {
                return Err(invalid(
                    "authorizer.class.name",
                    other,
                    format!("only {STANDARD_AUTHORIZER} is built"),
                ))
            }
        };
        let mut super_users = Vec::new();
        for s in get("super.users")
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            super_users.push(Principal::parse(s).ok_or_else(|| {
                invalid(
                    "super.users",
                    get("super.users"),
                    format!("`{s}` is not Type:name"),
                )
            })?);
        }
        Ok(SecurityConfig {
            protocol,
            controller_protocol,
            tls,
            controller_tls,
            mechanisms,
            plain_users,
            reauth_ms,
            failed_auth_delay_ms: get("connection.failed.authentication.delay.ms")
                .trim()
                .parse()
                .unwrap_or(100),
            authorizer,
            super_users,
            allow_everyone_if_no_acl: get("allow.everyone.if.no.acl.found") == "true",
        })
    }
}

/// One listener's TLS settings, `get` resolving listener overrides first.
fn tls_settings(get: &dyn Fn(&str) -> String) -> Result<TlsSettings, ConfigError> {
    let invalid = |key: &str, value: &str, reason: &str| ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    for k in ["ssl.keystore.type", "ssl.truststore.type"] {
        let v = get(k);
        if !v.trim().eq_ignore_ascii_case("PEM") {
            return Err(invalid(k, &v, "only PEM is supported"));
        }
    }
    let location = get("ssl.keystore.location");
    let chain = get("ssl.keystore.certificate.chain");
    let key = get("ssl.keystore.key");
    let keystore = match (location.trim(), chain.trim(), key.trim()) {
        (l, "", "") if !l.is_empty() => KeySource::File(PathBuf::from(l)),
        ("", c, k) if !c.is_empty() && !k.is_empty() => KeySource::Inline {
            chain: c.to_string(),
            key: k.to_string(),
        },
        _ => {
            return Err(invalid(
                "ssl.keystore.location",
                &location,
                "a TLS listener needs ssl.keystore.location (a PEM file with the certificate chain and key), or both ssl.keystore.certificate.chain and ssl.keystore.key",
            ))
        }
    };
    if !get("ssl.key.password").trim().is_empty() {
        return Err(invalid(
            "ssl.key.password",
            "(hidden)",
            "encrypted private keys are not supported: give an unencrypted PEM key (e.g. `openssl pkcs8 -nocrypt`) on a protected file",
        ));
    }
    let trust_location = get("ssl.truststore.location");
    let trust_inline = get("ssl.truststore.certificates");
    let truststore = match (trust_location.trim(), trust_inline.trim()) {
        ("", "") => None,
        (l, "") => Some(TrustSource::File(PathBuf::from(l))),
        ("", c) => Some(TrustSource::Inline(c.to_string())),
        _ => {
            return Err(invalid(
                "ssl.truststore.location",
                &trust_location,
                "set either ssl.truststore.location or ssl.truststore.certificates, not both",
            ))
        }
    };
    let auth = get("ssl.client.auth");
    let client_auth = match auth.trim().to_ascii_lowercase().as_str() {
        "none" | "" => ClientAuth::None,
        "requested" => ClientAuth::Requested,
        "required" => ClientAuth::Required,
        _ => {
            return Err(invalid(
                "ssl.client.auth",
                &auth,
                "must be none, requested or required",
            ))
        }
    };
    if client_auth != ClientAuth::None && truststore.is_none() {
        return Err(invalid(
            "ssl.truststore.location",
            "",
            "ssl.client.auth needs a trust store (ssl.truststore.location or ssl.truststore.certificates)",
        ));
    }
    let rules_text = get("ssl.principal.mapping.rules");
    let rules = principal_rules::PrincipalRules::parse(&rules_text)
        .map_err(|r| invalid("ssl.principal.mapping.rules", &rules_text, &r))?;
    Ok(TlsSettings {
        keystore,
        truststore,
        client_auth,
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_overrides_are_recognised() {
        assert!(is_listener_override(
            "listener.name.sasl_ssl.plain.sasl.jaas.config"
        ));
        assert!(is_listener_override("listener.name.ssl.ssl.client.auth"));
        assert!(!is_listener_override("listener.name.ssl.log.dirs"));
        assert!(!is_listener_override(
            "listener.name.x.gssapi.sasl.jaas.config"
        ));
    }

    #[test]
    fn principals_parse_and_print_as_kafka() {
        let p = Principal::parse("User:CN=a,O=b").unwrap();
        assert_eq!(p.kind, "User");
        assert_eq!(p.to_string(), "User:CN=a,O=b");
        assert!(Principal::parse("alice").is_none());
    }
}
