//! One client connection: length-prefixed frames in, responses out, in order.
//!
//! Requests on a connection are handled one at a time (as Kafka does), so responses
//! keep request order. The response is written by the connection's own task right
//! away: handing it to a writer task cost a thread wake-up per request, which the
//! latency profile showed (docs/performance.md).
//! Anything malformed ends this connection with a log line and nothing else.

use crate::broker::Broker;
use crate::budget::{BudgetPermit, RequestBudget};
use crate::router::{Frame, RequestContext, RequestError};
use crate::security::sasl::{Gate, Session};
use crate::shutdown::Shutdown;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {size} bytes exceeds socket.request.max.bytes ({max})")]
    FrameTooLarge { size: i64, max: usize },
    #[error("frame of {0} bytes is too short for a request header")]
    FrameTooShort(i32),
    #[error("unsupported API key {key} version {version}")]
    Unsupported { key: i16, version: i16 },
    #[error("no complete request within connections.max.idle.ms ({0:?})")]
    Idle(std::time::Duration),
    #[error("malformed request header: {0}")]
    Header(String),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("a TLS client connected to this {0} listener (use the client's security.protocol {0}, or connect to the TLS listener)")]
    TlsOnPlaintext(&'static str),
    #[error("{0}")]
    Tls(#[from] crate::security::tls::HandshakeError),
    #[error("{0}")]
    Authentication(String),
}

pub struct Connection<R, W> {
    broker: Arc<Broker>,
    budget: Arc<RequestBudget>,
    peer: SocketAddr,
    reader: R,
    writer: W,
    /// Who the client is and where it is in SASL authentication.
    session: Session,
}

impl<R, W> Connection<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    /// A connection over `reader`/`writer` (a TCP socket's halves, or a TLS stream's),
    /// whose client starts as `session` says.
    pub fn new(
        broker: Arc<Broker>,
        budget: Arc<RequestBudget>,
        reader: R,
        writer: W,
        peer: SocketAddr,
        session: Session,
    ) -> Connection<R, W> {
        Connection {
            broker,
            budget,
            peer,
            reader,
            writer,
            session,
        }
    }

    /// Serves requests until the client closes, an error, or shutdown. In-flight
    /// requests finish before it returns.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), ConnectionError> {
        let idle = std::time::Duration::from_millis(self.broker.config.connections_max_idle_ms);
        let result = loop {
            let max = self.broker.config.socket_request_max_bytes;
            let read = tokio::time::timeout(idle, read_frame(&mut self.reader, max, &self.budget));
            let frame = tokio::select! {
                f = read => match f {
                    Ok(f) => f,
                    Err(_) => break Err(ConnectionError::Idle(idle)),
                },
                _ = shutdown.recv() => break Ok(()),
            };
            let (frame, permit) = match frame {
                Ok(Some(f)) => f,
                Ok(None) => break Ok(()),
                Err(ConnectionError::FrameTooLarge { size, .. })
                    if !self.session.protocol.uses_tls() && (size as u32) >> 16 == 0x1603 =>
                {
                    // 0x16 0x03: a TLS handshake record where a frame size was expected.
                    let name = match self.session.protocol {
                        crate::security::SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
                        _ => "PLAINTEXT",
                    };
                    break Err(ConnectionError::TlsOnPlaintext(name));
                }
                Err(e) => break Err(e),
            };
            match self.serve(frame).await {
                Ok(Some(reply)) => {
                    if let Err(e) = self.write(reply).await {
                        break Err(e.into());
                    }
                }
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            if let Some(reason) = self.session.close.take() {
                break Err(ConnectionError::Authentication(reason));
            }
            // The request's bytes count against queued.max.request.bytes until its
            // response is written, as in Kafka.
            drop(permit);
        };
        let _ = self.writer.shutdown().await;
        result
    }

    /// Writes a response: encoded whole, or streamed from the log (Fetch), through whatever
    /// stream the connection uses. The flush matters on TLS: a write the socket could not take
    /// at once leaves encrypted bytes in the TLS session, sent only on the next write or flush,
    /// and the client would wait for them while we wait for its next request.
    async fn write(&mut self, reply: Frame) -> std::io::Result<()> {
        match reply {
            Frame::Whole(reply) => {
                let _held = self.broker.metrics.hold_response_bytes(reply.len());
                self.writer.write_all(&reply).await?;
            }
            Frame::Streamed(reply) => {
                reply
                    .write_to(&mut self.writer, &self.broker.metrics)
                    .await?
            }
        }
        self.writer.flush().await
    }

    async fn serve(&mut self, mut frame: Bytes) -> Result<Option<Frame>, ConnectionError> {
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        match self.session.gate(key) {
            Gate::Serve => {}
            Gate::Close(reason) => return Err(ConnectionError::Authentication(reason)),
            Gate::Sasl => return self.serve_sasl(key, version, frame).await,
        }
        let Some(route) = self.broker.router.find(key, version) else {
            if key == ApiKey::ApiVersions as i16 && version >= 0 {
                // KIP-511: a too-new ApiVersions gets v0 with UNSUPPORTED_VERSION and our table.
                let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                let body = crate::api::api_versions::unsupported_version_body(&self.broker.router);
                return Ok(Some(Frame::Whole(frame_response(correlation_id, body))));
            }
            return Err(ConnectionError::Unsupported { key, version });
        };
        let header_version = route.key.request_header_version(version);
        let header = RequestHeader::decode(&mut frame, header_version)
            .map_err(|e| ConnectionError::Header(e.to_string()))?;
        let correlation_id = header.correlation_id;
        let ctx = RequestContext {
            broker: self.broker.clone(),
            header,
            version,
            peer: self.peer,
            principal: self.session.principal.clone(),
        };
        let started = std::time::Instant::now();
        let reply = (route.call)(ctx, frame).await;
        self.broker
            .metrics
            .observe_request(route.key, started.elapsed(), reply.is_ok());
        tracing::debug!(peer = %self.peer, api = ?route.key, version, correlation_id, "request served");
        Ok(reply?)
    }
}

impl<R, W> Connection<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    /// SaslHandshake / SaslAuthenticate on a SASL listener: answered by the session.
    async fn serve_sasl(
        &mut self,
        key: i16,
        version: i16,
        mut frame: Bytes,
    ) -> Result<Option<Frame>, ConnectionError> {
        use crate::security::sasl::{AUTHENTICATE_VERSIONS, HANDSHAKE_VERSIONS};
        let (api, (min, max)) = if key == ApiKey::SaslHandshake as i16 {
            (ApiKey::SaslHandshake, HANDSHAKE_VERSIONS)
        } else {
            (ApiKey::SaslAuthenticate, AUTHENTICATE_VERSIONS)
        };
        if !(min..=max).contains(&version) {
            return Err(ConnectionError::Unsupported { key, version });
        }
        let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
            .map_err(|e| ConnectionError::Header(e.to_string()))?;
        let ctx = RequestContext {
            broker: self.broker.clone(),
            header,
            version,
            peer: self.peer,
            principal: self.session.principal.clone(),
        };
        Ok(self.session.serve(&ctx, frame).await?)
    }
}

/// A v0-header response frame around an already encoded body.
fn frame_response(correlation_id: i32, body: BytesMut) -> BytesMut {
    let mut out = BytesMut::with_capacity(8 + body.len());
    out.put_i32((4 + body.len()) as i32);
    out.put_i32(correlation_id);
    out.extend_from_slice(&body);
    out
}

/// The first allocation for a frame body; later ones double, capped at the frame size.
const INITIAL_FRAME_CAPACITY: usize = 64 * 1024;

/// Reads one frame; `None` when the client closed between frames.
///
/// The frame's size is reserved in the broker-wide `budget` before its body is read: when the
/// budget is short this waits without reading, so TCP holds the client back. Memory follows
/// the bytes that actually arrive (capacity at most twice what was received, never more than
/// the frame), so a client that claims a large frame and stalls costs little.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
    budget: &Arc<RequestBudget>,
) -> Result<Option<(Bytes, BudgetPermit)>, ConnectionError> {
    let size = match reader.read_i32().await {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if size < 0 || size as usize > max {
        return Err(ConnectionError::FrameTooLarge {
            size: size as i64,
            max,
        });
    }
    // api key, api version, correlation id, client id length.
    if size < 10 {
        return Err(ConnectionError::FrameTooShort(size));
    }
    let size = size as usize;
    let permit = budget.acquire(size).await;
    let mut buf: Vec<u8> = Vec::with_capacity(size.min(INITIAL_FRAME_CAPACITY));
    while buf.len() < size {
        if buf.len() == buf.capacity() {
            // reserve_exact: Vec::reserve would round up past the frame's end.
            // Not `clamp`: the frame may be smaller than the initial capacity.
            let doubled = buf.capacity().saturating_mul(2).max(INITIAL_FRAME_CAPACITY);
            let target = doubled.min(size);
            buf.reserve_exact(target - buf.len());
        }
        let want = size - buf.len();
        // read_buf fills spare capacity in place: nothing is zeroed first.
        let n = (&mut *reader).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(Some((Bytes::from(buf), permit)))
}
