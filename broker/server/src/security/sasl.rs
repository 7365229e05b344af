//! The SASL side of a connection: SaslHandshake (17) and SaslAuthenticate (36) on SASL
//! listeners, the gate that keeps other requests out until the client authenticated, and
//! KIP-368 session lifetimes (`connections.max.reauth.ms`).
//!
//! As in Kafka: ApiVersions and SaslHandshake may come first; anything else before
//! authentication closes the connection; a failed authentication is answered with
//! SASL_AUTHENTICATION_FAILED after `connection.failed.authentication.delay.ms`, logged with
//! the client's address, and the connection is closed. A client re-authenticates by
//! sending SaslHandshake again on its connection; one whose session expired is closed at
//! its next request.

use super::scram::{ScramHash, ScramServer, Step};
use super::{Mechanism, Principal, SecurityProtocol};
use crate::router::{decode, encode, Reply, RequestContext, RequestError};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// SaslHandshake versions served. v0 is listed because librdkafka requires it to detect
/// SASL support, but its unframed tokens are not read: a v0 client that sends raw tokens
/// after the handshake (instead of SaslAuthenticate) has its connection closed as malformed.
pub const HANDSHAKE_VERSIONS: (i16, i16) = (0, 1);
/// SaslAuthenticate versions served.
pub const AUTHENTICATE_VERSIONS: (i16, i16) = (0, 2);

/// Where a connection is in authentication.
#[derive(Debug)]
enum State {
    /// Authenticated (PLAINTEXT/SSL from the start; SASL once done) until `expires`.
    Authenticated { expires: Option<Instant> },
    /// A SASL listener waits for SaslHandshake.
    Handshake,
    /// SaslHandshake chose `mechanism`; SaslAuthenticate tokens follow.
    Authenticate {
        mechanism: Mechanism,
        scram: Option<ScramServer>,
    },
}

/// One connection's authentication state and principal.
#[derive(Debug)]
pub struct Session {
    pub protocol: SecurityProtocol,
    pub principal: Arc<Principal>,
    state: State,
    /// Re-authenticating (KIP-368): the new principal must be the same.
    reauth: bool,
    /// The connection must close once the current response is written.
    pub close: Option<String>,
}

/// What the connection does with a request.
pub enum Gate {
    /// Serve it through the router.
    Serve,
    /// A SASL request: [`Session::serve`] answers it.
    Sasl,
    /// Close the connection without answering (Kafka's behaviour), for this reason.
    Close(String),
}

impl Session {
    /// A new connection's session; `principal` is the TLS principal (or anonymous).
    pub fn new(protocol: SecurityProtocol, principal: Principal) -> Session {
        Session {
            protocol,
            principal: Arc::new(principal),
            state: if protocol.uses_sasl() {
                State::Handshake
            } else {
                State::Authenticated { expires: None }
            },
            reauth: false,
            close: None,
        }
    }

    pub fn gate(&self, key: i16) -> Gate {
        let sasl = self.protocol.uses_sasl();
        if key == ApiKey::ApiVersions as i16 {
            return Gate::Serve;
        }
        match &self.state {
            State::Authenticated { expires } => {
                if sasl && key == ApiKey::SaslHandshake as i16 {
                    return Gate::Sasl;
                }
                match expires {
                    Some(t) if Instant::now() >= *t => Gate::Close(
                        "SASL session expired (connections.max.reauth.ms) and the client did not re-authenticate".into(),
                    ),
                    _ => Gate::Serve,
                }
            }
            State::Handshake if key == ApiKey::SaslHandshake as i16 => Gate::Sasl,
            State::Authenticate { .. } if key == ApiKey::SaslAuthenticate as i16 => Gate::Sasl,
            _ => Gate::Close(format!(
                "API key {key} before SASL authentication completed (a SASL listener needs SaslHandshake and SaslAuthenticate first; is the client's security.protocol right?)"
            )),
        }
    }

    /// Answers a SaslHandshake or SaslAuthenticate.
    pub async fn serve(
        &mut self,
        ctx: &RequestContext,
        body: Bytes,
    ) -> Result<Reply, RequestError> {
        if ctx.header.request_api_key == ApiKey::SaslHandshake as i16 {
            let req: SaslHandshakeRequest = decode(ctx, body)?;
            let resp = self.handshake(ctx, &req.mechanism);
            return encode(ctx, &resp);
        }
        let req: SaslAuthenticateRequest = decode(ctx, body)?;
        let resp = self.authenticate(ctx, &req.auth_bytes).await;
        encode(ctx, &resp)
    }

    fn handshake(&mut self, ctx: &RequestContext, mechanism: &str) -> SaslHandshakeResponse {
        let enabled = &ctx.broker.config.security.mechanisms;
        let names = enabled
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect();
        let resp = SaslHandshakeResponse::default().with_mechanisms(names);
        let chosen = Mechanism::parse(mechanism).filter(|m| enabled.contains(m));
        let Some(mechanism) = chosen else {
            tracing::warn!(peer = %ctx.peer, mechanism, "SASL handshake with a mechanism not in sasl.enabled.mechanisms");
            self.close = Some(format!("unsupported SASL mechanism {mechanism}"));
            return resp.with_error_code(ResponseError::UnsupportedSaslMechanism.code());
        };
        self.reauth = matches!(self.state, State::Authenticated { .. });
        let scram = match mechanism {
            Mechanism::Plain => None,
            Mechanism::ScramSha256 => Some(ScramServer::new(ScramHash::Sha256)),
            Mechanism::ScramSha512 => Some(ScramServer::new(ScramHash::Sha512)),
        };
        self.state = State::Authenticate { mechanism, scram };
        resp
    }

    async fn authenticate(
        &mut self,
        ctx: &RequestContext,
        token: &[u8],
    ) -> SaslAuthenticateResponse {
        let State::Authenticate { mechanism, scram } = &mut self.state else {
            self.close = Some("SaslAuthenticate without SaslHandshake".into());
            return SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::IllegalSaslState.code());
        };
        let mechanism = *mechanism;
        let outcome = match scram {
            None => plain(&ctx.broker.config.security.plain_users, token)
                .map(|user| (Some(user), Bytes::new())),
            Some(server) => {
                let hash = match mechanism {
                    Mechanism::ScramSha256 => ScramHash::Sha256,
                    _ => ScramHash::Sha512,
                };
                let image = ctx.broker.image();
                let lookup = |user: &str| {
                    image
                        .scram
                        .get(&(user.to_string(), hash.kafka_id()))
                        .cloned()
                };
                match server.step(token, &lookup) {
                    Ok(Step::Continue(msg)) => Ok((None, Bytes::from(msg))),
                    Ok(Step::Success { user, message }) => Ok((Some(user), Bytes::from(message))),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        let (user, reply) = match outcome {
            Ok(x) => x,
            Err(reason) => return self.fail(ctx, mechanism, &reason).await,
        };
        let Some(user) = user else {
            return SaslAuthenticateResponse::default().with_auth_bytes(reply);
        };
        let principal = Principal::user(user);
        if self.reauth && principal != *self.principal {
            let reason = format!(
                "re-authentication as {principal} on a connection authenticated as {}",
                self.principal
            );
            return self.fail(ctx, mechanism, &reason).await;
        }
        let reauth_ms = ctx.broker.config.security.reauth_ms;
        let expires = (reauth_ms > 0).then(|| Instant::now() + Duration::from_millis(reauth_ms));
        tracing::debug!(peer = %ctx.peer, %principal, mechanism = mechanism.name(), "SASL authentication succeeded");
        self.principal = Arc::new(principal);
        self.state = State::Authenticated { expires };
        SaslAuthenticateResponse::default()
            .with_auth_bytes(reply)
            .with_session_lifetime_ms(reauth_ms.min(i64::MAX as u64) as i64)
    }

    async fn fail(
        &mut self,
        ctx: &RequestContext,
        mechanism: Mechanism,
        reason: &str,
    ) -> SaslAuthenticateResponse {
        tracing::warn!(peer = %ctx.peer, mechanism = mechanism.name(), %reason, "SASL authentication failed");
        // Slows down password guessing: each failed attempt costs the client this long
        // plus a new connection (Kafka's connection.failed.authentication.delay.ms).
        tokio::time::sleep(Duration::from_millis(
            ctx.broker.config.security.failed_auth_delay_ms,
        ))
        .await;
        self.close = Some(format!("SASL authentication failed ({reason})"));
        let message = match mechanism {
            Mechanism::Plain => "Authentication failed: Invalid username or password".to_string(),
            m => format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                m.name()
            ),
        };
        SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
            .with_error_message(Some(StrBytes::from_string(message)))
    }
}

/// PLAIN (RFC 4616): `authzid \0 authcid \0 password`.
fn plain(
    users: &std::collections::BTreeMap<String, String>,
    token: &[u8],
) -> Result<String, String> {
    let text = std::str::from_utf8(token).map_err(|_| "PLAIN token is not UTF-8".to_string())?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed PLAIN token".into());
    };
    if !authzid.is_empty() && authzid != user {
        return Err(format!(
            "authorization id {authzid} differs from the user name {user}"
        ));
    }
    match users.get(user) {
        Some(expected) if constant_time_eq(expected.as_bytes(), password.as_bytes()) => {
            Ok(user.to_string())
        }
        Some(_) => Err(format!("wrong password for user {user}")),
        None => Err(format!("unknown user {user}")),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tokens_check_user_and_password() {
        let users = [("alice".to_string(), "pw".to_string())].into();
        assert_eq!(plain(&users, b"\0alice\0pw").unwrap(), "alice");
        assert_eq!(plain(&users, b"alice\0alice\0pw").unwrap(), "alice");
        assert!(plain(&users, b"\0alice\0nope")
            .unwrap_err()
            .contains("wrong password"));
        assert!(plain(&users, b"\0bob\0pw")
            .unwrap_err()
            .contains("unknown user"));
        assert!(plain(&users, b"bob\0alice\0pw").is_err());
        assert!(plain(&users, b"garbage").is_err());
    }

    #[test]
    fn only_api_versions_and_handshake_pass_before_authentication() {
        let s = Session::new(SecurityProtocol::SaslPlaintext, Principal::anonymous());
        assert!(matches!(s.gate(ApiKey::ApiVersions as i16), Gate::Serve));
        assert!(matches!(s.gate(ApiKey::SaslHandshake as i16), Gate::Sasl));
        assert!(matches!(s.gate(ApiKey::Metadata as i16), Gate::Close(_)));
        assert!(matches!(
            s.gate(ApiKey::SaslAuthenticate as i16),
            Gate::Close(_)
        ));
        let s = Session::new(SecurityProtocol::Ssl, Principal::anonymous());
        assert!(matches!(s.gate(ApiKey::Metadata as i16), Gate::Serve));
    }
}
