//! One connection to one broker: TLS and SASL when configured, framing, correlation ids,
//! ApiVersions negotiation and per-request timeouts.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{HeaderVersion, Message, Request, StrBytes, VersionRange};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::codes::{self, api_name};
use crate::frame;
use crate::security::{sasl, tls, Security};
use crate::stream::Stream;
use crate::ClientError;

/// Settings shared by every connection of a client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Sent as the request header's client id; brokers log it and use it for quotas.
    pub client_id: String,
    /// Limit for the TCP connect plus the ApiVersions exchange.
    pub connect_timeout: Duration,
    /// Limit for one request: writing it and reading its whole response.
    pub request_timeout: Duration,
    /// Server-side timeout sent in CreateTopics, CreatePartitions and DeleteTopics; kept below
    /// `request_timeout` so the broker answers (with REQUEST_TIMED_OUT) before we give up.
    pub operation_timeout: Duration,
    /// Largest response frame accepted; larger ones close the connection.
    pub max_response_bytes: usize,
    /// TLS and SASL (plaintext by default).
    pub security: Security,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_id: "fjord-client".to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            operation_timeout: Duration::from_secs(20),
            max_response_bytes: frame::MAX_FRAME_BYTES,
            security: Security::default(),
        }
    }
}

/// A connection to one broker, with the API versions that broker advertised.
///
/// Requests are sent one at a time (`&mut self`): an admin client has no use for pipelining,
/// and it keeps a timed-out request from confusing the next one. After an I/O error, a timeout
/// or a malformed response the connection is marked broken and refuses further requests.
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    addr: String,
    config: ClientConfig,
    next_correlation_id: i32,
    versions: BTreeMap<i16, VersionRange>,
    broken: bool,
}

impl Connection {
    /// Connects to `addr` (`host:port`): TLS if the security protocol says so, ApiVersions,
    /// then SASL authentication if configured.
    pub async fn connect(addr: &str, config: &ClientConfig) -> Result<Connection, ClientError> {
        let connect = async {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let security = &config.security;
            let stream = match (&security.tls, security.protocol.uses_tls()) {
                (_, false) => Stream::Tcp(tcp),
                (Some(tls_config), true) => {
                    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
                    Stream::Tls(Box::new(tls::connect(tcp, host, tls_config.clone()).await?))
                }
                (None, true) => {
                    return Err(ClientError::Tls(format!(
                        "security.protocol={} without TLS settings",
                        security.protocol
                    )))
                }
            };
            let mut conn = Connection {
                stream,
                addr: addr.to_owned(),
                config: config.clone(),
                next_correlation_id: 0,
                versions: BTreeMap::new(),
                broken: false,
            };
            conn.versions = conn.fetch_api_versions().await?;
            if security.protocol.uses_sasl() {
                let login = security.sasl.as_ref().ok_or_else(|| {
                    ClientError::Authentication(format!(
                        "security.protocol={} without a SASL login",
                        security.protocol
                    ))
                })?;
                sasl::authenticate(&mut conn, login).await?;
            }
            Ok(conn)
        };
        tokio::time::timeout(config.connect_timeout, connect)
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// The address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The version range the broker advertised for `key`, if it serves that API at all.
    pub fn broker_versions(&self, key: ApiKey) -> Option<VersionRange> {
        self.versions.get(&(key as i16)).copied()
    }

    /// The highest version of `R` both `kafka-protocol` and the broker support;
    /// UNSUPPORTED_VERSION when there is none.
    pub fn negotiate<R: Request>(&self) -> Result<i16, ClientError> {
        self.negotiate_within::<R>(R::VERSIONS)
    }

    /// Like [`Connection::negotiate`], limited to `client`: the versions the caller knows how
    /// to fill and read.
    pub fn negotiate_within<R: Request>(&self, client: VersionRange) -> Result<i16, ClientError> {
        negotiate(
            R::KEY,
            self.versions.get(&R::KEY).copied(),
            R::VERSIONS.intersect(&client),
        )
    }

    /// Sends `req` at `version` and waits for its response, within the request timeout.
    ///
    /// The version is not checked against what the broker advertised, so tests can probe how a
    /// broker handles versions it does not serve; use [`Connection::negotiate`] to pick one.
    pub async fn send<R: Request>(
        &mut self,
        req: R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        let correlation_id = self.next_correlation_id();
        let frame = frame::encode_request(&req, version, correlation_id, &self.config.client_id)?;
        let body = self
            .round_trip(frame, R::Response::header_version(version), correlation_id)
            .await?;
        frame::decode_body::<R>(body, version).inspect_err(|_| self.broken = true)
    }

    /// Sends a hand-built request body for `api_key` at `version` and returns the raw response
    /// body (after the response header). For tests of how a broker handles malformed input.
    pub async fn send_raw(
        &mut self,
        api_key: i16,
        version: i16,
        body: &[u8],
    ) -> Result<Bytes, ClientError> {
        let key = ApiKey::try_from(api_key)
            .map_err(|()| ClientError::Protocol(format!("unknown API key {api_key}")))?;
        let correlation_id = self.next_correlation_id();
        let frame = frame::encode_raw_request(
            api_key,
            version,
            key.request_header_version(version),
            correlation_id,
            &self.config.client_id,
            body,
        )?;
        self.round_trip(frame, key.response_header_version(version), correlation_id)
            .await
    }

    fn next_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        id
    }

    /// Writes one frame and reads the matching response body; any failure breaks the connection.
    async fn round_trip(
        &mut self,
        frame: bytes::BytesMut,
        response_header_version: i16,
        correlation_id: i32,
    ) -> Result<Bytes, ClientError> {
        if self.broken {
            return Err(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                format!("connection to {} broke on an earlier request", self.addr),
            )));
        }
        let max = self.config.max_response_bytes;
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let response = frame::read_frame(&mut self.stream, max).await?;
            frame::split_response(response, response_header_version, correlation_id)
        };
        let result = match tokio::time::timeout(self.config.request_timeout, exchange).await {
            Ok(result) => result.map_err(explain_closed),
            Err(_) => Err(ClientError::Timeout),
        };
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// ApiVersions, at the newest version this crate speaks. A broker that does not serve that
    /// version answers UNSUPPORTED_VERSION in a v0 body listing the versions it does serve; the
    /// request is then repeated at the highest of those (Kafka's own client does the same).
    async fn fetch_api_versions(&mut self) -> Result<BTreeMap<i16, VersionRange>, ClientError> {
        let mut version = ApiVersionsRequest::VERSIONS.max;
        for _ in 0..2 {
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("fjord-client"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let correlation_id = self.next_correlation_id();
            let frame =
                frame::encode_request(&request, version, correlation_id, &self.config.client_id)?;
            let body = self
                .round_trip(
                    frame,
                    ApiVersionsResponse::header_version(version),
                    correlation_id,
                )
                .await?;
            let response = decode_api_versions(body, version)?;
            if response.error_code == codes::code::UNSUPPORTED_VERSION {
                let ours = ApiVersionsRequest::VERSIONS;
                let theirs = advertised(&response)
                    .get(&(ApiKey::ApiVersions as i16))
                    .copied();
                version = negotiate(ApiKey::ApiVersions as i16, theirs, ours)?;
                continue;
            }
            ClientError::check("ApiVersions", response.error_code, None)?;
            return Ok(advertised(&response));
        }
        Err(ClientError::Protocol(
            "broker rejected every ApiVersions version offered".to_owned(),
        ))
    }
}

/// A broker that closes the connection instead of answering is most often one speaking
/// another security protocol (a SASL listener closes connections that send requests before
/// authenticating), or one that refused our TLS certificate: say so.
fn explain_closed(e: ClientError) -> ClientError {
    match e {
        // TLS 1.3 clients finish their side of the handshake first: a broker that refuses
        // our certificate (or has none from us) says so in an alert on the first read.
        ClientError::Io(io) if tls::alert(&io).is_some() => {
            ClientError::Tls(tls::alert(&io).unwrap_or_default())
        }
        ClientError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ClientError::Io(std::io::Error::new(
                io.kind(),
                "the broker closed the connection instead of answering (does \
                 security.protocol match the broker's listener?)",
            ))
        }
        e => e,
    }
}

/// Decodes an ApiVersions response, which brokers send as v0 when they reject the version.
fn decode_api_versions(body: Bytes, version: i16) -> Result<ApiVersionsResponse, ClientError> {
    let error_code = body.clone().try_get_i16().unwrap_or_default();
    let version = if error_code == codes::code::UNSUPPORTED_VERSION {
        0
    } else {
        version
    };
    frame::decode_body::<ApiVersionsRequest>(body, version)
}

fn advertised(response: &ApiVersionsResponse) -> BTreeMap<i16, VersionRange> {
    response
        .api_keys
        .iter()
        .map(|k| {
            let range = VersionRange {
                min: k.min_version,
                max: k.max_version,
            };
            (k.api_key, range)
        })
        .collect()
}

/// The highest version in both ranges, or UNSUPPORTED_VERSION naming both ranges.
fn negotiate(
    api_key: i16,
    broker: Option<VersionRange>,
    client: VersionRange,
) -> Result<i16, ClientError> {
    let api = api_name(api_key);
    let unsupported = |message: String| ClientError::Kafka {
        api,
        code: codes::code::UNSUPPORTED_VERSION,
        name: codes::error_name(codes::code::UNSUPPORTED_VERSION),
        message: Some(message),
    };
    let Some(broker) = broker else {
        return Err(unsupported(format!("the broker does not serve {api}")));
    };
    let common = broker.intersect(&client);
    if common.is_empty() {
        return Err(unsupported(format!(
            "the broker serves {api} v{broker}, this client speaks v{client}"
        )));
    }
    Ok(common.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: i16, max: i16) -> VersionRange {
        VersionRange { min, max }
    }

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(negotiate(3, Some(range(0, 9)), range(1, 13)).unwrap(), 9);
        assert_eq!(negotiate(3, Some(range(4, 13)), range(1, 12)).unwrap(), 12);
    }

    #[test]
    fn negotiation_fails_clearly_without_overlap() {
        let err = negotiate(3, Some(range(0, 0)), range(1, 13)).unwrap_err();
        assert_eq!(err.kafka_code(), Some(35));
        assert_eq!(
            err.to_string(),
            "UNSUPPORTED_VERSION (35): the broker serves Metadata v0..0, this client speaks v1..13"
        );
    }

    #[test]
    fn negotiation_fails_clearly_for_an_api_the_broker_lacks() {
        let err = negotiate(60, None, range(0, 2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "UNSUPPORTED_VERSION (35): the broker does not serve DescribeCluster"
        );
    }

    #[test]
    fn a_rejected_api_versions_request_is_read_as_v0() {
        use bytes::BufMut;
        // error_code=35, one api key (ApiVersions 0..2): the v0 body a broker sends back.
        let mut body = bytes::BytesMut::new();
        body.put_i16(35);
        body.put_i32(1);
        body.put_i16(18);
        body.put_i16(0);
        body.put_i16(2);
        let response = decode_api_versions(body.freeze(), 4).unwrap();
        assert_eq!(response.error_code, 35);
        assert_eq!(advertised(&response)[&18], range(0, 2));
    }
}
