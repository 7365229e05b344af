//! Looking inside one stored batch: per-record offsets and timestamps, for the exact timestamp
//! lookups of ListOffsets. Off the hot path; decompresses with kafka-protocol's decoder.

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::batch::BatchHeader;
use crate::error::StorageError;

/// (offset, timestamp) of every record of `batch`, in order. For `LogAppendTime` batches every
/// record carries the batch's `maxTimestamp`, as consumers see it.
pub(crate) fn record_timestamps(
    header: &BatchHeader,
    batch: Bytes,
) -> Result<Vec<(i64, i64)>, StorageError> {
    let mut buf = batch;
    let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| StorageError::Decode {
        offset: header.base_offset,
        reason: e.to_string(),
    })?;
    Ok(set
        .records
        .iter()
        .map(|r| {
            let ts = if header.is_log_append_time() {
                header.max_timestamp
            } else {
                r.timestamp
            };
            (r.offset, ts)
        })
        .collect())
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
    let mut out = Vec::with_capacity(count.min(section.len()));
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
