//! Kafka's framing: every request and response is a 4-byte big-endian length followed by that
//! many bytes (header, then body).
//!
//! The length is checked against a bound before anything is allocated for it, so a broken or
//! hostile peer cannot make the client allocate gigabytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::ClientError;

/// Largest response frame the client accepts (100 MiB); a larger length prefix is a protocol
/// error and closes the connection.
pub const MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Encodes `req` at `version` as one length-prefixed frame, ready to be written.
pub(crate) fn encode_request<R: Request>(
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<BytesMut, ClientError> {
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_string(client_id.to_owned()));
    let header_version = R::header_version(version);

    let mut buf = BytesMut::new();
    buf.put_i32(0); // length, patched below
    header
        .encode(&mut buf, header_version)
        .map_err(|e| encode_error(R::KEY, version, e))?;
    req.encode(&mut buf, version)
        .map_err(|e| encode_error(R::KEY, version, e))?;
    let len = i32::try_from(buf.len() - 4).map_err(|_| {
        ClientError::Protocol(format!("request of {} bytes is too large", buf.len()))
    })?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// Encodes an already-encoded request body behind a request header (for tests that send
/// malformed or hand-built bodies).
pub(crate) fn encode_raw_request(
    api_key: i16,
    version: i16,
    header_version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &[u8],
) -> Result<BytesMut, ClientError> {
    let mut header = RequestHeader::default();
    header.request_api_key = api_key;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_string(client_id.to_owned()));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| encode_error(api_key, version, e))?;
    buf.put_slice(body);
    let len = i32::try_from(buf.len() - 4).map_err(|_| {
        ClientError::Protocol(format!("request of {} bytes is too large", buf.len()))
    })?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

fn encode_error(api_key: i16, version: i16, e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(format!(
        "cannot encode {} v{version}: {e}",
        crate::codes::api_name(api_key)
    ))
}

/// Reads one frame (without its length prefix), refusing lengths above `max_bytes`.
pub(crate) async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_bytes: usize,
) -> Result<Bytes, ClientError> {
    let len = stream.read_i32().await?;
    let len = usize::try_from(len)
        .map_err(|_| ClientError::Protocol(format!("negative frame length {len}")))?;
    if len > max_bytes {
        return Err(ClientError::Protocol(format!(
            "response frame of {len} bytes exceeds the limit of {max_bytes} bytes"
        )));
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    Ok(Bytes::from(buf))
}

/// Splits a response frame into its header and body and checks the correlation id.
pub(crate) fn split_response(
    mut frame: Bytes,
    response_header_version: i16,
    expected_correlation_id: i32,
) -> Result<Bytes, ClientError> {
    let header = ResponseHeader::decode(&mut frame, response_header_version)
        .map_err(|e| ClientError::Protocol(format!("cannot decode response header: {e}")))?;
    if header.correlation_id != expected_correlation_id {
        return Err(ClientError::Protocol(format!(
            "response correlation id {} does not match request {expected_correlation_id}",
            header.correlation_id
        )));
    }
    Ok(frame)
}

/// Decodes a response body of request type `R` at `version`.
pub(crate) fn decode_body<R: Request>(
    mut body: Bytes,
    version: i16,
) -> Result<R::Response, ClientError> {
    let response = R::Response::decode(&mut body, version).map_err(|e| {
        ClientError::Protocol(format!(
            "cannot decode {} v{version} response: {e}",
            crate::codes::api_name(R::KEY)
        ))
    })?;
    if body.has_remaining() {
        tracing::debug!(
            api = crate::codes::api_name(R::KEY),
            version,
            trailing = body.remaining(),
            "response has trailing bytes"
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
    use kafka_protocol::protocol::decode_request_header_from_buffer;

    #[test]
    fn request_frame_is_length_prefixed_header_then_body() {
        let req = MetadataRequest::default().with_topics(None);
        let mut frame = encode_request(&req, 12, 7, "fjord-test").unwrap().freeze();
        let len = frame.get_i32() as usize;
        assert_eq!(len, frame.len());
        let header = decode_request_header_from_buffer(&mut frame).unwrap();
        assert_eq!(header.request_api_key, ApiKey::Metadata as i16);
        assert_eq!(header.request_api_version, 12);
        assert_eq!(header.correlation_id, 7);
        assert_eq!(header.client_id.as_deref(), Some("fjord-test"));
        assert_eq!(MetadataRequest::decode(&mut frame, 12).unwrap(), req);
        assert!(!frame.has_remaining());
    }

    #[test]
    fn fields_an_old_version_cannot_carry_are_refused_not_dropped() {
        // allow_auto_topic_creation=false only exists from Metadata v4 on.
        let req = MetadataRequest::default().with_allow_auto_topic_creation(false);
        let err = encode_request(&req, 3, 1, "c").unwrap_err();
        assert!(matches!(err, ClientError::Protocol(m) if m.contains("Metadata v3")));
    }

    #[tokio::test]
    async fn frames_above_the_limit_are_refused_before_allocating() {
        let mut wire: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        let err = read_frame(&mut wire, MAX_FRAME_BYTES).await.unwrap_err();
        assert!(matches!(err, ClientError::Protocol(m) if m.contains("exceeds the limit")));
    }

    #[tokio::test]
    async fn negative_frame_lengths_are_refused() {
        let mut wire: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        let err = read_frame(&mut wire, MAX_FRAME_BYTES).await.unwrap_err();
        assert!(matches!(err, ClientError::Protocol(m) if m.contains("negative")));
    }

    #[tokio::test]
    async fn a_truncated_frame_is_an_io_error() {
        let mut wire: &[u8] = &[0, 0, 0, 10, 1, 2, 3];
        let err = read_frame(&mut wire, MAX_FRAME_BYTES).await.unwrap_err();
        assert!(matches!(err, ClientError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof));
    }

    #[tokio::test]
    async fn response_round_trips_through_frame_and_header() {
        let mut response = MetadataResponse::default();
        response.controller_id = 3.into();
        let version = 12;
        let header_version = ApiKey::Metadata.response_header_version(version);
        let mut body = BytesMut::new();
        let mut header = ResponseHeader::default();
        header.correlation_id = 42;
        header.encode(&mut body, header_version).unwrap();
        response.encode(&mut body, version).unwrap();
        let mut wire = BytesMut::new();
        wire.put_i32(body.len() as i32);
        wire.put_slice(&body);

        let frame = read_frame(&mut &wire[..], MAX_FRAME_BYTES).await.unwrap();
        let body = split_response(frame.clone(), header_version, 42).unwrap();
        let decoded = decode_body::<MetadataRequest>(body, version).unwrap();
        assert_eq!(decoded, response);

        let err = split_response(frame, header_version, 43).unwrap_err();
        assert!(matches!(err, ClientError::Protocol(m) if m.contains("correlation id 42")));
    }
}
