//! Client-side security: TLS (rustls) and SASL (PLAIN, SCRAM-SHA-256/512), configured with
//! Kafka's client property names (see [`properties`]).
//!
//! A [`Security`] is part of every [`ClientConfig`](crate::ClientConfig); a connection wraps
//! its socket in TLS when the protocol says so, asks ApiVersions, then authenticates with
//! SASL before any other request, as Kafka's clients do.

pub mod jaas;
pub mod properties;
pub mod scram;

pub(crate) mod sasl;
pub(crate) mod tls;

use std::fmt;
use std::sync::Arc;

/// Kafka's four security protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// TCP, no authentication.
    #[default]
    Plaintext,
    /// TLS; a client certificate authenticates when the broker asks for one.
    Ssl,
    /// SASL over TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name, case-insensitively (`SecurityProtocol.forName` upper-cases too).
    pub fn parse(v: &str) -> Option<SecurityProtocol> {
        match v.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    /// Whether connections are wrapped in TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        })
    }
}

/// A SASL mechanism this client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// RFC 4616: user name and password in the clear (use it over TLS).
    Plain,
    /// SCRAM (RFC 5802) with SHA-256 or SHA-512: the password never crosses the wire.
    Scram(scram::ScramHash),
}

impl SaslMechanism {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`, case-insensitively.
    pub fn parse(v: &str) -> Option<SaslMechanism> {
        if v.trim().eq_ignore_ascii_case("PLAIN") {
            return Some(SaslMechanism::Plain);
        }
        scram::ScramHash::from_mechanism(v.trim()).map(SaslMechanism::Scram)
    }

    /// The name SaslHandshake carries.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(h) => h.mechanism(),
        }
    }
}

/// Who to log in as with SASL.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslLogin {
    /// The mechanism offered in SaslHandshake.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    /// The password (never printed).
    pub password: String,
}

impl fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"(hidden)")
            .finish()
    }
}

/// How connections are secured: the protocol, the TLS client config (for SSL and SASL_SSL)
/// and the SASL login (for SASL_PLAINTEXT and SASL_SSL).
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// The security protocol.
    pub protocol: SecurityProtocol,
    /// TLS settings, built once (certificates already loaded); required when the protocol
    /// uses TLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// SASL login; required when the protocol uses SASL.
    pub sasl: Option<SaslLogin>,
}
