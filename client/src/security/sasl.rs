//! SASL authentication of a new connection: SaslHandshake v1 naming the mechanism, then
//! SaslAuthenticate rounds carrying the mechanism's tokens (KIP-152), as Kafka's clients do
//! right after ApiVersions.

use bytes::Bytes;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::scram::ScramClient;
use super::{SaslLogin, SaslMechanism};
use crate::codes::code;
use crate::connection::Connection;
use crate::ClientError;

/// Authenticates `conn` as `login`; [`ClientError::Authentication`] when the broker refuses.
pub(crate) async fn authenticate(
    conn: &mut Connection,
    login: &SaslLogin,
) -> Result<(), ClientError> {
    // v1: the tokens travel in SaslAuthenticate requests, not as raw frames.
    let version = conn.negotiate_within::<SaslHandshakeRequest>(VersionRange { min: 1, max: 1 })?;
    let mechanism = login.mechanism.name();
    let handshake = conn
        .send(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
            version,
        )
        .await?;
    if handshake.error_code == code::UNSUPPORTED_SASL_MECHANISM {
        let enabled: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(ClientError::Authentication(format!(
            "the broker does not enable SASL mechanism {mechanism} (it enables: {})",
            enabled.join(", ")
        )));
    }
    ClientError::check("SaslHandshake", handshake.error_code, None)?;
    match login.mechanism {
        SaslMechanism::Plain => {
            let token = format!("\0{}\0{}", login.username, login.password);
            round(conn, token.into_bytes()).await?;
            Ok(())
        }
        SaslMechanism::Scram(hash) => {
            let mut client = ScramClient::new(hash, &login.username, &login.password);
            let challenge = round(conn, client.first()).await?;
            let proof = client
                .proof(&challenge)
                .map_err(ClientError::Authentication)?;
            let server_final = round(conn, proof).await?;
            client
                .verify(&server_final)
                .map_err(ClientError::Authentication)
        }
    }
}

/// One SaslAuthenticate round: sends `token`, returns the broker's reply token.
async fn round(conn: &mut Connection, token: Vec<u8>) -> Result<Bytes, ClientError> {
    let version = conn.negotiate::<SaslAuthenticateRequest>()?;
    let response: SaslAuthenticateResponse = conn
        .send(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
            version,
        )
        .await?;
    if response.error_code != 0 {
        let message = response
            .error_message
            .as_deref()
            .unwrap_or("no reason given")
            .to_owned();
        let name = crate::codes::error_name(response.error_code);
        return Err(ClientError::Authentication(format!("{name}: {message}")));
    }
    Ok(response.auth_bytes)
}
