//! ApiVersions (key 18): the versions of every API this broker serves, taken from
//! the route table.

use crate::router::{RequestContext, Router};
use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::Encodable;

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 3;

pub async fn handle(ctx: &RequestContext, req: ApiVersionsRequest) -> Option<ApiVersionsResponse> {
    let mut resp = table(&ctx.broker.router);
    // KIP-511: v3 clients name themselves; Kafka refuses names outside [a-zA-Z0-9._-].
    if ctx.version >= 3
        && (!valid_software(&req.client_software_name)
            || !valid_software(&req.client_software_version))
    {
        resp.error_code = ResponseError::InvalidRequest.code();
    }
    Some(resp)
}

fn valid_software(s: &str) -> bool {
    // Kafka's pattern: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.';
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(ok)
}

fn table(router: &Router) -> ApiVersionsResponse {
    // No supported/finalized feature tags: old clients (librdkafka 2.0) must parse this.
    ApiVersionsResponse::default().with_api_keys(
        router
            .advertised()
            .map(|(key, min, max)| {
                ApiVersion::default()
                    .with_api_key(key)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    )
}

/// The v0 body sent when a client asks for an ApiVersions version we do not serve.
pub fn unsupported_version_body(router: &Router) -> BytesMut {
    let resp = table(router).with_error_code(ResponseError::UnsupportedVersion.code());
    let mut buf = BytesMut::new();
    // v0 of a response built from our own table always encodes.
    let _ = resp.encode(&mut buf, 0);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_names_follow_kip_511() {
        assert!(valid_software("librdkafka"));
        assert!(valid_software("2.0.2"));
        assert!(!valid_software(""));
        assert!(!valid_software("-x"));
        assert!(!valid_software("a b"));
    }
}
