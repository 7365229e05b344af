//! Raw Kafka protocol on a TCP socket, for requests no client library sends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

// ---------------------------------------------------------------------------------------------
// Raw Kafka protocol
// ---------------------------------------------------------------------------------------------

/// A raw TCP connection speaking Kafka's framing, for requests real clients never send.
pub struct RawConn {
    pub stream: TcpStream,
    next_correlation_id: i32,
}

impl RawConn {
    /// Connects with 30 s read and write timeouts.
    pub fn connect(bootstrap: &str) -> RawConn {
        let stream =
            TcpStream::connect(bootstrap).unwrap_or_else(|e| panic!("connect {bootstrap}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .expect("set write timeout");
        RawConn {
            stream,
            next_correlation_id: 1,
        }
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Sends a frame: a 4-byte big-endian length then `payload`.
    pub fn send_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(payload.len() + 4);
        buf.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        buf.extend_from_slice(payload);
        self.write_raw(&buf)
    }

    /// Sends a request with a correct header for `api_key`/`version` and `body` as encoded
    /// bytes; returns the correlation id.
    pub fn send_raw_request(&mut self, api_key: i16, version: i16, body: &[u8]) -> i32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut buf = BytesMut::new();
        let header_version = ApiKey::try_from(api_key)
            .map(|k| k.request_header_version(version))
            .unwrap_or(1);
        let header = RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord-tests-raw")));
        header
            .encode(&mut buf, header_version)
            .expect("encode header");
        buf.put_slice(body);
        self.send_frame(&buf)
            .unwrap_or_else(|e| panic!("send request: {e}"));
        correlation_id
    }

    /// Encodes and sends a typed request; returns the correlation id.
    pub fn send_request<R: Encodable + HeaderVersion>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &R,
    ) -> i32 {
        let mut body = BytesMut::new();
        request.encode(&mut body, version).expect("encode request");
        self.send_raw_request(api_key as i16, version, &body)
    }

    /// Reads one response frame; `Err` on disconnect or timeout.
    pub fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if !(0..=256 << 20).contains(&len) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("response frame length {len}"),
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.stream.read_exact(&mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Reads one response, checks its correlation id and returns the body after the header
    /// (`header_version` is the response header version: 0, or 1 for flexible versions).
    pub fn read_response_body(
        &mut self,
        correlation_id: i32,
        header_version: i16,
    ) -> std::io::Result<Bytes> {
        let mut frame = self.read_frame()?;
        let header = ResponseHeader::decode(&mut frame, header_version)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")))?;
        assert_eq!(
            header.correlation_id, correlation_id,
            "response correlation id"
        );
        Ok(frame)
    }

    /// Sends a typed request and decodes the typed response.
    pub fn request<Req, Resp>(&mut self, api_key: ApiKey, version: i16, request: &Req) -> Resp
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable,
    {
        let cid = self.send_request(api_key, version, request);
        let mut body = self
            .read_response_body(cid, api_key.response_header_version(version))
            .unwrap_or_else(|e| panic!("read {api_key:?} v{version} response: {e}"));
        let resp = Resp::decode(&mut body, version)
            .unwrap_or_else(|e| panic!("decode {api_key:?} v{version} response: {e:?}"));
        assert_eq!(
            body.remaining(),
            0,
            "{api_key:?} v{version} response has trailing bytes"
        );
        resp
    }

    /// True if the broker closed the connection (read returns EOF or a reset) within `timeout`.
    /// Any bytes received before the close are returned in `Err`.
    pub fn closed_within(&mut self, timeout: Duration) -> Result<(), Vec<u8>> {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return if got.is_empty() { Ok(()) } else { Err(got) },
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(got);
                }
                Err(_) => return Ok(()),
            }
        }
    }
}

/// A valid record batch v2 of `count` records (`raw-key-i` / `raw-value-i`), as a
/// producer without idempotence would send it, for raw-protocol Produce requests.
pub fn record_batch(count: i64) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            offset: i,
            // offset - sequence constant keeps the records in one batch; base sequence -1.
            sequence: i as i32 - 1,
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(format!("raw-key-{i}"))),
            value: Some(Bytes::from(format!("raw-value-{i}"))),
            ..plain_record()
        })
        .collect();
    encode_batch(&records)
}

/// A record batch v2 of one record with `key` and `value`.
pub fn single_record_batch(key: Option<Bytes>, value: Bytes) -> Bytes {
    encode_batch(&[Record {
        key,
        value: Some(value),
        ..plain_record()
    }])
}

/// A record batch v2 of one record whose value is `size` bytes of `x`.
pub fn big_batch(size: usize) -> Bytes {
    single_record_batch(None, Bytes::from(vec![b'x'; size]))
}

/// Offset 0, CreateTime 1_700_000_000_000, no key, value, headers or producer id.
fn plain_record() -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: None,
        value: None,
        headers: Default::default(),
    }
}

fn encode_batch(records: &[Record]) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}

/// Asserts that `fetched` is `sent` (one-record batches produced in order from offset 0) as
/// the broker stores them: each batch's offset stamped, and from `magic` on (attributes,
/// CRC, records) byte for byte as produced.
pub fn assert_fetched_as_produced(fetched: &[u8], sent: &[Bytes], what: &str) {
    let total: usize = sent.iter().map(Bytes::len).sum();
    assert_eq!(fetched.len(), total, "{what}: every batch");
    let mut at = 0;
    for (i, b) in sent.iter().enumerate() {
        let stored = &fetched[at..at + b.len()];
        assert_eq!(
            i64::from_be_bytes(stored[..8].try_into().expect("8 bytes")),
            i as i64,
            "{what}: offsets stamped"
        );
        assert_eq!(&stored[16..], &b[16..], "{what}: batch {i} as produced");
        at += b.len();
    }
}
