//! SaslHandshake (key 17) reaching the router: the listener is not a SASL listener (on a
//! SASL listener the connection's session answers it), so, as Kafka, ILLEGAL_SASL_STATE.

use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

pub const MIN_VERSION: i16 = crate::security::sasl::HANDSHAKE_VERSIONS.0;
pub const MAX_VERSION: i16 = crate::security::sasl::HANDSHAKE_VERSIONS.1;

pub async fn handle(
    _ctx: &RequestContext,
    _req: SaslHandshakeRequest,
) -> Option<SaslHandshakeResponse> {
    Some(SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code()))
}
