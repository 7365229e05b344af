//! SaslAuthenticate (key 36) reaching the router: not a SASL listener (there the
//! connection's session answers it), so ILLEGAL_SASL_STATE, as Kafka.

use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};

pub const MIN_VERSION: i16 = crate::security::sasl::AUTHENTICATE_VERSIONS.0;
pub const MAX_VERSION: i16 = crate::security::sasl::AUTHENTICATE_VERSIONS.1;

pub async fn handle(
    _ctx: &RequestContext,
    _req: SaslAuthenticateRequest,
) -> Option<SaslAuthenticateResponse> {
    Some(
        SaslAuthenticateResponse::default().with_error_code(ResponseError::IllegalSaslState.code()),
    )
}
