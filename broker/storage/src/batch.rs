//! Record batch v2 headers: parsing, validation and the in-place stamping done on append.
//!
//! Layout (big-endian), 61 bytes before the records:
//! `baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32`.
//! The CRC-32C covers `attributes` to the end of the batch, so `baseOffset` and
//! `partitionLeaderEpoch` can be stamped without recomputing it. Records are never parsed here.

use crate::error::BatchError;

/// Bytes of a v2 batch header.
pub const HEADER_LEN: usize = 61;
/// `baseOffset` + `batchLength`: the bytes not counted by `batchLength`.
pub const LOG_OVERHEAD: usize = 12;
/// Smallest legal `batchLength` (a header with no records).
const MIN_BATCH_LENGTH: i32 = (HEADER_LEN - LOG_OVERHEAD) as i32;

const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;

pub(crate) const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

/// A decoded batch header. Plain data: `Copy`, shareable between threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[at..at + N]);
    out
}

impl BatchHeader {
    /// Decodes the fixed header. Checks only that 61 bytes are present and the length is sane;
    /// magic and CRC are checked by [`validate`].
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        let header = BatchHeader {
            base_offset: i64::from_be_bytes(be(buf, 0)),
            batch_length: i32::from_be_bytes(be(buf, 8)),
            partition_leader_epoch: i32::from_be_bytes(be(buf, LEADER_EPOCH_AT)),
            magic: buf[MAGIC_AT] as i8,
            crc: u32::from_be_bytes(be(buf, CRC_AT)),
            attributes: i16::from_be_bytes(be(buf, ATTRIBUTES_AT)),
            last_offset_delta: i32::from_be_bytes(be(buf, 23)),
            base_timestamp: i64::from_be_bytes(be(buf, BASE_TIMESTAMP_AT)),
            max_timestamp: i64::from_be_bytes(be(buf, MAX_TIMESTAMP_AT)),
            producer_id: i64::from_be_bytes(be(buf, 43)),
            producer_epoch: i16::from_be_bytes(be(buf, 51)),
            base_sequence: i32::from_be_bytes(be(buf, 53)),
            record_count: i32::from_be_bytes(be(buf, 57)),
        };
        if header.batch_length < MIN_BATCH_LENGTH {
            return Err(BatchError::InvalidLength(header.batch_length));
        }
        Ok(header)
    }

    /// Total bytes of the batch on disk, header included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    /// Whether the batch's timestamps are the broker's append time.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Sequence number of the last record, wrapping like Kafka's `incrementSequence`.
    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// `seq + increment`, wrapping past `i32::MAX` to 0 as Kafka producers do.
pub fn increment_sequence(seq: i32, increment: i32) -> i32 {
    if seq > i32::MAX - increment {
        increment - (i32::MAX - seq) - 1
    } else {
        seq + increment
    }
}

/// Validates one complete batch at the start of `buf`: header, length within `buf`, magic 2 and
/// CRC-32C. Returns the header; the batch is `buf[..header.size()]`.
pub fn validate(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf)?;
    if buf.len() < header.size() {
        return Err(BatchError::Truncated {
            needed: header.size(),
            available: buf.len(),
        });
    }
    if header.magic != 2 {
        return Err(BatchError::UnsupportedMagic(header.magic));
    }
    let computed = crc32c::crc32c(&buf[ATTRIBUTES_AT..header.size()]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// Checks the rules Kafka applies to batches sent by producers, beyond [`validate`].
pub fn check_produced(header: &BatchHeader, max_message_bytes: u64) -> Result<(), BatchError> {
    if header.size() as u64 > max_message_bytes {
        return Err(BatchError::TooLarge {
            size: header.size(),
            max: max_message_bytes,
        });
    }
    if header.record_count < 1 {
        return Err(BatchError::NoRecords);
    }
    if i64::from(header.last_offset_delta) != i64::from(header.record_count) - 1 {
        return Err(BatchError::CountMismatch {
            last_offset_delta: header.last_offset_delta,
            record_count: header.record_count,
        });
    }
    if header.is_transactional() {
        return Err(BatchError::Transactional);
    }
    if header.is_control() {
        return Err(BatchError::Control);
    }
    Ok(())
}

/// Writes `baseOffset` and `partitionLeaderEpoch` into a batch; both are outside the CRC.
pub fn stamp_offsets(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Writes the batch's `maxTimestamp` and recomputes the CRC (the validator's correction of a
/// producer's header, as Kafka's `setMaxTimestamp` for `CreateTime`).
pub(crate) fn set_max_timestamp(batch: &mut [u8], max_timestamp: i64) {
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    recompute_crc(batch);
}

/// Writes the attributes field; the caller recomputes the CRC.
pub(crate) fn set_attributes(batch: &mut [u8], attributes: i16) {
    batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
}

/// Recomputes the CRC-32C over `attributes..end` after a change inside it.
pub(crate) fn recompute_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Marks a batch as `LogAppendTime` with `maxTimestamp = now_ms` and recomputes the CRC, as
/// Kafka's `setMaxTimestamp` does. `baseTimestamp` and the record deltas stay untouched:
/// readers take every record's timestamp from `maxTimestamp` for this type.
pub fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = i16::from_be_bytes(be(batch, ATTRIBUTES_AT)) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::BatchBuilder;

    #[test]
    fn a_well_formed_batch_validates() {
        let b = BatchBuilder::new(3).build();
        let h = validate(&b).unwrap();
        assert_eq!(h.record_count, 3);
        assert_eq!(h.size(), b.len());
        assert!(check_produced(&h, 1 << 20).is_ok());
    }

    #[test]
    fn a_flipped_byte_fails_the_crc() {
        let mut b = BatchBuilder::new(1).build();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(validate(&b), Err(BatchError::CrcMismatch { .. })));
    }

    #[test]
    fn magic_other_than_two_is_rejected() {
        let mut b = BatchBuilder::new(1).build();
        b[MAGIC_AT] = 1;
        assert_eq!(validate(&b), Err(BatchError::UnsupportedMagic(1)));
    }

    #[test]
    fn short_buffers_and_lengths_are_rejected() {
        let b = BatchBuilder::new(2).build();
        assert!(matches!(
            validate(&b[..30]),
            Err(BatchError::Truncated { .. })
        ));
        assert!(matches!(
            validate(&b[..b.len() - 1]),
            Err(BatchError::Truncated { .. })
        ));
        let mut bad = b.clone();
        bad[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(validate(&bad), Err(BatchError::InvalidLength(10)));
    }

    #[test]
    fn stamping_offsets_keeps_the_crc_valid() {
        let mut b = BatchBuilder::new(2).build();
        stamp_offsets(&mut b, 1234, 7);
        let h = validate(&b).unwrap();
        assert_eq!((h.base_offset, h.partition_leader_epoch), (1234, 7));
    }

    #[test]
    fn log_append_time_sets_type_and_max_timestamp_and_keeps_the_crc_valid() {
        let mut b = BatchBuilder::new(2).build();
        stamp_log_append_time(&mut b, 99_000);
        let h = validate(&b).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 99_000);
    }

    #[test]
    fn sequences_wrap_to_zero() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(5, 3), 8);
    }
}
