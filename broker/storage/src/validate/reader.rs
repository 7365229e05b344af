//! Reading the records of one v2 batch, one at a time, with every length checked.
//!
//! Record layout (varints are zigzag): `length varint | attributes i8 | timestampDelta varlong |
//! offsetDelta varint | keyLength varint | key | valueLength varint | value |
//! headerCount varint | (headerKeyLength varint | headerKey | headerValueLength varint |
//! headerValue)*`. `length` counts the bytes after itself. Only the current record is held in
//! memory, in a buffer that grows with the bytes actually read; counts from the wire never size
//! an allocation. A reader belongs to one thread at a time.

use std::io::{BufRead, Read};

use super::codec;
use crate::batch::{BatchHeader, HEADER_LEN};
use crate::error::BatchError;

/// The smallest record: a one-byte length and six one-byte fields.
pub(crate) const MIN_RECORD_BYTES: u64 = 7;

/// One decoded record, borrowing the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'b> {
    /// Position in the batch, from 0.
    pub index: usize,
    /// The whole record, length prefix included, as stored.
    pub bytes: &'b [u8],
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    /// `None` for a null key.
    pub key: Option<&'b [u8]>,
    /// `None` for a null value (a tombstone).
    pub value: Option<&'b [u8]>,
    /// Where in `bytes` the body starts (after the length prefix), and where the key length
    /// starts (after the offset delta): compaction re-encodes a record's timestamp delta and
    /// copies the rest from here.
    pub(crate) body_at: usize,
    pub(crate) key_at: usize,
}

/// Where the records come from: uncompressed records are parsed in place, compressed ones
/// through a bounded decompressing stream.
enum Source<'a> {
    Slice { section: &'a [u8], at: usize },
    Stream(Box<dyn BufRead + 'a>),
}

/// Streams the records of a batch whose bytes (header included) are `batch`.
pub struct RecordReader<'a> {
    src: Source<'a>,
    limit: u64,
    declared: usize,
    index: usize,
    buf: Vec<u8>,
}

fn invalid(index: usize, reason: impl Into<String>) -> BatchError {
    BatchError::InvalidRecord {
        index,
        reason: reason.into(),
    }
}

impl<'a> RecordReader<'a> {
    /// A reader of `batch` (header included, as validated by `batch::validate`) that stops
    /// after `limit` decompressed bytes. Refuses up front a record count that `limit` (or,
    /// uncompressed, the bytes present) could not hold.
    pub fn new(header: &BatchHeader, batch: &'a [u8], limit: u64) -> Result<Self, BatchError> {
        let section = batch
            .get(HEADER_LEN..header.size())
            .ok_or(BatchError::Truncated {
                needed: header.size(),
                available: batch.len(),
            })?;
        let declared = usize::try_from(header.record_count)
            .map_err(|_| invalid(0, format!("negative record count {}", header.record_count)))?;
        let room = if header.compression() == codec::NONE {
            section.len() as u64
        } else {
            limit
        };
        if declared as u64 > room / MIN_RECORD_BYTES {
            return Err(invalid(
                0,
                format!("record count {declared} cannot fit in {room} bytes of records"),
            ));
        }
        let src = if header.compression() == codec::NONE {
            Source::Slice { section, at: 0 }
        } else {
            Source::Stream(codec::reader(header.compression(), section, limit)?)
        };
        Ok(RecordReader {
            src,
            limit,
            declared,
            index: 0,
            buf: Vec::new(),
        })
    }

    /// The next record, or `None` after the declared count, once the section is known to hold
    /// no more bytes than those records.
    pub fn next_record(&mut self) -> Result<Option<RecordView<'_>>, BatchError> {
        let index = self.index;
        if index == self.declared {
            let more = match &mut self.src {
                Source::Slice { section, at } => *at < section.len(),
                Source::Stream(src) => !src
                    .fill_buf()
                    .map_err(|e| codec::read_error(e, self.limit))?
                    .is_empty(),
            };
            if more {
                return Err(invalid(
                    index,
                    format!("bytes remain after the declared {} records", self.declared),
                ));
            }
            return Ok(None);
        }
        self.index += 1;
        if let Source::Slice { section, at } = &mut self.src {
            let section: &'a [u8] = section;
            let start = *at;
            let mut pos = start;
            let len =
                varint(section, &mut pos, 5).ok_or_else(|| truncated(index, self.declared))?;
            let end = usize::try_from(len)
                .ok()
                .filter(|l| *l as u64 >= MIN_RECORD_BYTES - 1)
                .and_then(|l| pos.checked_add(l))
                .ok_or_else(|| invalid(index, format!("invalid record length {len}")))?;
            if end > section.len() {
                return Err(invalid(
                    index,
                    format!("record of {len} bytes is truncated"),
                ));
            }
            *at = end;
            return parse(index, &section[start..end], pos - start).map(Some);
        }
        self.buf.clear();
        let len = self.varint_from_stream(5)?;
        let len = u64::try_from(len)
            .ok()
            .filter(|l| *l >= MIN_RECORD_BYTES - 1)
            .ok_or_else(|| invalid(index, format!("invalid record length {len}")))?;
        let prefix = self.buf.len();
        let Source::Stream(src) = &mut self.src else {
            return Err(invalid(index, "unreachable source"));
        };
        let read = src
            .take(len)
            .read_to_end(&mut self.buf)
            .map_err(|e| codec::read_error(e, self.limit))?;
        if read as u64 != len {
            return Err(invalid(
                index,
                format!("record of {len} bytes is truncated"),
            ));
        }
        parse(index, &self.buf, prefix).map(Some)
    }

    /// Reads a zigzag varint byte by byte from the stream, keeping its bytes in `buf` (the
    /// record's prefix).
    fn varint_from_stream(&mut self, max_bytes: usize) -> Result<i64, BatchError> {
        let index = self.index - 1;
        let Source::Stream(src) = &mut self.src else {
            return Err(invalid(index, "unreachable source"));
        };
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let mut b = [0u8; 1];
            match src.read(&mut b) {
                Ok(1) => {}
                Ok(_) => return Err(truncated(index, self.declared)),
                Err(e) => return Err(codec::read_error(e, self.limit)),
            }
            self.buf.push(b[0]);
            value |= u64::from(b[0] & 0x7f) << (7 * i);
            if b[0] & 0x80 == 0 {
                return Ok(unzigzag(value));
            }
        }
        Err(invalid(index, "varint too long"))
    }
}

fn truncated(index: usize, declared: usize) -> BatchError {
    invalid(
        index,
        format!("records end after {index} of {declared} records"),
    )
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Reads a zigzag varint of at most `max_bytes` bytes from `buf` at `pos`.
fn varint(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Option<i64> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let b = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(unzigzag(value));
        }
    }
    None
}

/// A length-prefixed byte string: -1 is null, other negatives are invalid.
fn bytes_field<'b>(body: &'b [u8], pos: &mut usize) -> Option<Option<&'b [u8]>> {
    let len = varint(body, pos, 5)?;
    if len == -1 {
        return Some(None);
    }
    let end = pos.checked_add(usize::try_from(len).ok()?)?;
    let field = body.get(*pos..end)?;
    *pos = end;
    Some(Some(field))
}

/// Parses the record in `raw` whose body starts at `prefix`; the body must be used exactly.
fn parse(index: usize, raw: &[u8], prefix: usize) -> Result<RecordView<'_>, BatchError> {
    let body = &raw[prefix..];
    let bad = |what: &str| invalid(index, format!("malformed record: {what}"));
    let mut pos = 1; // attributes: unused in v2 records
    let timestamp_delta = varint(body, &mut pos, 10).ok_or_else(|| bad("timestamp delta"))?;
    let offset_delta = varint(body, &mut pos, 5)
        .and_then(|d| i32::try_from(d).ok())
        .ok_or_else(|| bad("offset delta"))?;
    let key_at = prefix + pos;
    let key = bytes_field(body, &mut pos).ok_or_else(|| bad("key"))?;
    let value = bytes_field(body, &mut pos).ok_or_else(|| bad("value"))?;
    let headers = varint(body, &mut pos, 5)
        .filter(|n| *n >= 0)
        .ok_or_else(|| bad("header count"))?;
    for _ in 0..headers {
        // Each header takes at least two bytes, so a huge count fails on the bytes, quickly.
        match bytes_field(body, &mut pos) {
            Some(Some(_)) => {}
            _ => return Err(bad("header key")),
        }
        bytes_field(body, &mut pos).ok_or_else(|| bad("header value"))?;
    }
    if pos != body.len() {
        return Err(bad(&format!(
            "{} bytes declared but {} used",
            body.len(),
            pos
        )));
    }
    Ok(RecordView {
        index,
        bytes: raw,
        timestamp_delta,
        offset_delta,
        key,
        value,
        body_at: prefix,
        key_at,
    })
}
