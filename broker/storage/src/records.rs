//! Looking inside one stored batch: per-record offsets and timestamps, for the exact timestamp
//! lookups of ListOffsets, and the record split used by compaction. Off the hot path; decodes
//! with the bounded, streaming reader of `validate::reader`, one record at a time.

use crate::batch::BatchHeader;
use crate::error::StorageError;
use crate::validate::{decompressed_limit, RecordReader};

/// The first (offset, timestamp) of `batch`'s records, in order, accepted by `accept`. For
/// `LogAppendTime` batches every record carries the batch's `maxTimestamp`, as consumers see
/// it. Decompression stops at [`decompressed_limit`] of `max_message_bytes`; memory holds one
/// record at a time.
pub(crate) fn find_record(
    header: &BatchHeader,
    batch: &[u8],
    max_message_bytes: u64,
    mut accept: impl FnMut(i64, i64) -> bool,
) -> Result<Option<(i64, i64)>, StorageError> {
    let decode = |e: crate::error::BatchError| StorageError::Decode {
        offset: header.base_offset,
        reason: e.to_string(),
    };
    let mut reader =
        RecordReader::new(header, batch, decompressed_limit(max_message_bytes)).map_err(decode)?;
    while let Some(r) = reader.next_record().map_err(decode)? {
        let offset = header.base_offset + i64::from(r.offset_delta);
        let ts = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.saturating_add(r.timestamp_delta)
        };
        if accept(offset, ts) {
            return Ok(Some((offset, ts)));
        }
    }
    Ok(None)
}

/// One record of an uncompressed records section, located but not decoded.
pub(crate) struct RawRecord<'a> {
    /// The whole record, length prefix included: copied verbatim when kept.
    pub(crate) bytes: &'a [u8],
    pub(crate) offset_delta: i32,
    /// `None` for a null key.
    pub(crate) key: Option<&'a [u8]>,
}

/// Reads a zigzag varint of at most `max_bytes` bytes.
fn varint(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Option<i64> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let b = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    None
}

/// Splits a (decompressed) records section into its `count` records, reading only each
/// record's length, offset delta and key. `None` if the bytes do not hold that many records.
pub(crate) fn split_records(section: &[u8], count: usize) -> Option<Vec<RawRecord<'_>>> {
    // Capacity from the bytes present (a record takes at least 7), never from `count` alone.
    let mut out = Vec::with_capacity(count.min(section.len() / 7));
    let mut pos = 0;
    for _ in 0..count {
        let start = pos;
        let len = usize::try_from(varint(section, &mut pos, 5)?).ok()?;
        let end = pos.checked_add(len)?;
        let body = section.get(pos..end)?;
        let mut p = 1; // attributes
        varint(body, &mut p, 10)?; // timestamp delta
        let offset_delta = i32::try_from(varint(body, &mut p, 5)?).ok()?;
        let key_len = varint(body, &mut p, 5)?;
        let key = if key_len < 0 {
            None
        } else {
            let k_end = p.checked_add(usize::try_from(key_len).ok()?)?;
            Some(body.get(p..k_end)?)
        };
        out.push(RawRecord {
            bytes: &section[start..end],
            offset_delta,
            key,
        });
        pos = end;
    }
    Some(out)
}
