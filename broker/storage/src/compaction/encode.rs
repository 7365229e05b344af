//! Re-encoding a batch that lost records: the header is kept (base offset, last offset delta,
//! producer id/epoch/base sequence, leader epoch, flags, max timestamp), the kept records are
//! written through the batch's codec, and the length, count and CRC are recomputed. Field
//! positions are those of the v2 header described in `crate::batch`. One batch at a time.

use crate::batch::{BatchHeader, COMPRESSION_MASK, HEADER_LEN, LOG_OVERHEAD};
use crate::error::BatchError;
use crate::validate::codec::Encoder;
use crate::validate::RecordView;

const BATCH_LENGTH_AT: usize = 8;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const BASE_TIMESTAMP_AT: usize = 27;
const RECORD_COUNT_AT: usize = 57;

/// KIP-534: the batch's base timestamp holds the delete horizon of its tombstones.
pub(super) const DELETE_HORIZON_BIT: i16 = 1 << 6;

/// The delete horizon of a batch, if the cleaner stamped one.
pub(super) fn delete_horizon(header: &BatchHeader) -> Option<i64> {
    (header.attributes & DELETE_HORIZON_BIT != 0).then_some(header.base_timestamp)
}

/// Appends `v` as a zigzag varint.
pub(super) fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A batch being rebuilt from some of its records.
pub(super) struct BatchWriter {
    header: [u8; HEADER_LEN],
    encoder: Encoder,
    count: i32,
    /// The original base timestamp and the one written (they differ when a delete horizon is
    /// stamped: every kept record's timestamp delta is then rewritten to keep its timestamp).
    old_base_timestamp: i64,
    new_base_timestamp: i64,
    new_attributes: i16,
    scratch: Vec<u8>,
}

impl BatchWriter {
    /// Rebuilds the batch whose first `HEADER_LEN` bytes are `batch`, with `horizon` as its
    /// delete horizon if given.
    pub(super) fn new(
        header: &BatchHeader,
        batch: &[u8],
        horizon: Option<i64>,
    ) -> Result<Self, BatchError> {
        let mut head = [0u8; HEADER_LEN];
        head.copy_from_slice(batch.get(..HEADER_LEN).ok_or(BatchError::Truncated {
            needed: HEADER_LEN,
            available: batch.len(),
        })?);
        let (new_base_timestamp, new_attributes) = match horizon {
            Some(h) => (h, header.attributes | DELETE_HORIZON_BIT),
            None => (header.base_timestamp, header.attributes),
        };
        Ok(BatchWriter {
            header: head,
            encoder: Encoder::new(header.compression())?,
            count: 0,
            old_base_timestamp: header.base_timestamp,
            new_base_timestamp,
            new_attributes,
            scratch: Vec::new(),
        })
    }

    /// Adds a kept record.
    pub(super) fn push(&mut self, r: &RecordView<'_>) -> Result<(), BatchError> {
        self.count += 1;
        if self.new_base_timestamp == self.old_base_timestamp {
            return self.encoder.write(r.bytes);
        }
        let timestamp = self.old_base_timestamp.wrapping_add(r.timestamp_delta);
        let delta = timestamp.wrapping_sub(self.new_base_timestamp);
        let attributes = r.bytes.get(r.body_at).copied().unwrap_or(0);
        let rest = r.bytes.get(r.key_at..).unwrap_or_default();
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        body.push(attributes);
        put_varint(&mut body, delta);
        put_varint(&mut body, i64::from(r.offset_delta));
        body.extend_from_slice(rest);
        let mut record = Vec::with_capacity(body.len() + 5);
        put_varint(&mut record, body.len() as i64);
        record.extend_from_slice(&body);
        self.scratch = body;
        self.encoder.write(&record)
    }

    /// The finished batch. With no record kept it is stored uncompressed and empty, as
    /// Kafka keeps a producer's last batch.
    pub(super) fn finish(self) -> Result<Vec<u8>, BatchError> {
        let mut attributes = self.new_attributes;
        let section = if self.count == 0 {
            attributes &= !COMPRESSION_MASK;
            Vec::new()
        } else {
            self.encoder.finish()?
        };
        let mut out = Vec::with_capacity(HEADER_LEN + section.len());
        out.extend_from_slice(&self.header);
        out.extend_from_slice(&section);
        let batch_length = (out.len() - LOG_OVERHEAD) as i32;
        out[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&batch_length.to_be_bytes());
        out[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        out[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8]
            .copy_from_slice(&self.new_base_timestamp.to_be_bytes());
        out[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&out[ATTRIBUTES_AT..]);
        out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_zigzag_like_kafkas() {
        for (v, want) in [
            (0i64, vec![0u8]),
            (-1, vec![1]),
            (1, vec![2]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out, want, "{v}");
        }
    }
}
