//! One client connection: length-prefixed frames in, responses out, in order.
//!
//! Requests on a connection are handled one at a time (as Kafka does), so responses
//! keep request order. The response is written by the connection's own task right
//! away: handing it to a writer task cost a thread wake-up per request, which the
//! latency profile showed (docs/performance.md).
//! Anything malformed ends this connection with a log line and nothing else.

use crate::broker::Broker;
use crate::budget::{BudgetPermit, RequestBudget};
use crate::router::{RequestContext, RequestError};
use crate::shutdown::Shutdown;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

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
}

pub struct Connection {
    broker: Arc<Broker>,
    budget: Arc<RequestBudget>,
    peer: SocketAddr,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
}

impl Connection {
    pub fn new(
        broker: Arc<Broker>,
        budget: Arc<RequestBudget>,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Connection {
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        Connection {
            broker,
            budget,
            peer,
            reader,
            writer,
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
                Err(e) => break Err(e),
            };
            match self.serve(frame).await {
                Ok(Some(reply)) => {
                    if let Err(e) = self.writer.write_all(&reply).await {
                        break Err(e.into());
                    }
                }
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            // The request's bytes count against queued.max.request.bytes until its
            // response is written, as in Kafka.
            drop(permit);
        };
        let _ = self.writer.shutdown().await;
        result
    }

    async fn serve(&self, mut frame: Bytes) -> Result<Option<Bytes>, ConnectionError> {
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let Some(route) = self.broker.router.find(key, version) else {
            if key == ApiKey::ApiVersions as i16 && version >= 0 {
                // KIP-511: a too-new ApiVersions gets v0 with UNSUPPORTED_VERSION and our table.
                let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                let body = crate::api::api_versions::unsupported_version_body(&self.broker.router);
                return Ok(Some(frame_response(correlation_id, body)));
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
        };
        let started = std::time::Instant::now();
        let reply = (route.call)(ctx, frame).await;
        self.broker
            .metrics
            .observe_request(route.key, started.elapsed(), reply.is_ok());
        tracing::debug!(peer = %self.peer, api = ?route.key, version, correlation_id, "request served");
        Ok(reply?.map(BytesMut::freeze))
    }
}

/// A v0-header response frame around an already encoded body.
fn frame_response(correlation_id: i32, body: BytesMut) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + body.len());
    out.put_i32((4 + body.len()) as i32);
    out.put_i32(correlation_id);
    out.extend_from_slice(&body);
    out.freeze()
}

/// The first allocation for a frame body; later ones double, capped at the frame size.
const INITIAL_FRAME_CAPACITY: usize = 64 * 1024;

/// Reads one frame; `None` when the client closed between frames.
///
/// The frame's size is reserved in the broker-wide `budget` before its body is read: when the
/// budget is short this waits without reading, so TCP holds the client back. Memory follows
/// the bytes that actually arrive (capacity at most twice what was received, never more than
/// the frame), so a client that claims a large frame and stalls costs little.
async fn read_frame(
    reader: &mut OwnedReadHalf,
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
