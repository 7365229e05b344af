//! The crate's single error type.

use std::io;
use std::path::PathBuf;

/// Why a record batch sent by a client (or found on disk) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than a batch header, or than the batch length announces.
    #[error("batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    /// `batchLength` is below the v2 minimum (49) or negative.
    #[error("invalid batch length {0}")]
    InvalidLength(i32),
    /// Only record batch v2 is accepted.
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// The stored CRC-32C does not match the batch contents.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    /// A batch must hold at least one record.
    #[error("batch has no records")]
    NoRecords,
    /// `lastOffsetDelta` must equal `recordCount - 1` for client batches.
    #[error("lastOffsetDelta {last_offset_delta} does not match recordCount {record_count}")]
    CountMismatch {
        last_offset_delta: i32,
        record_count: i32,
    },
    /// The batch is larger than `max.message.bytes`.
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge { size: usize, max: u64 },
    /// Transactional batches need a transaction coordinator, which Fjord does not run.
    #[error("transactional batches are not supported")]
    Transactional,
    /// Control batches are written by the broker, never by producers.
    #[error("control batches cannot be produced")]
    Control,
    /// An idempotent producer's batch without a base sequence.
    #[error("invalid base sequence {0} for a batch with a producer id")]
    InvalidSequence(i32),
    /// The compression codec id is not one Kafka defines.
    #[error("unknown compression codec {0}")]
    UnknownCompression(i16),
    /// The compressed records cannot be decompressed.
    #[error("cannot decompress records: {0}")]
    Compression(String),
    /// The records decompress to more than the limit (`validate::decompressed_limit`).
    #[error("records decompress to more than {limit} bytes")]
    DecompressedTooLarge { limit: u64 },
    /// A record does not decode, or the records do not match the header.
    #[error("invalid record {index}: {reason}")]
    InvalidRecord { index: usize, reason: String },
    /// A record of a compacted topic has no key.
    #[error("record {index}: a compacted topic cannot accept a record without a key")]
    NoKey { index: usize },
    /// A record's timestamp is outside what the topic accepts.
    #[error("record {index}: {reason}")]
    InvalidTimestamp { index: usize, reason: String },
}

impl BatchError {
    /// The Kafka protocol error code for a batch refused for this reason.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            BatchError::Truncated { .. }
            | BatchError::InvalidLength(_)
            | BatchError::CrcMismatch { .. }
            | BatchError::UnknownCompression(_)
            | BatchError::Compression(_) => 2, // CORRUPT_MESSAGE
            // A producer splits a batch refused as too large and retries.
            BatchError::TooLarge { .. } | BatchError::DecompressedTooLarge { .. } => 10, // MESSAGE_TOO_LARGE
            BatchError::InvalidTimestamp { .. } => 32, // INVALID_TIMESTAMP
            BatchError::UnsupportedMagic(_) => 43,     // UNSUPPORTED_FOR_MESSAGE_FORMAT
            BatchError::NoRecords
            | BatchError::CountMismatch { .. }
            | BatchError::Transactional
            | BatchError::Control
            | BatchError::InvalidSequence(_)
            | BatchError::InvalidRecord { .. }
            | BatchError::NoKey { .. } => 87, // INVALID_RECORD
        }
    }
}

/// Every failure of the storage layer. Callers match on the variant; the broker maps them to
/// Kafka error codes with [`StorageError::kafka_error_code`].
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A batch in a produce payload is malformed or not acceptable.
    #[error("invalid record batch at byte {position} of the request: {kind}")]
    InvalidBatch { position: usize, kind: BatchError },
    /// A batch does not fit in an empty segment of `segment.bytes`.
    #[error("record set of {size} bytes is larger than segment.bytes {segment_bytes}")]
    RecordListTooLarge { size: u64, segment_bytes: u64 },
    /// The requested offset is outside `[log start offset, log end offset]`.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// An idempotent producer used an epoch older than the one the log has seen.
    #[error("producer {producer_id} epoch {epoch} is older than current epoch {current_epoch}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current_epoch: i16,
    },
    /// An idempotent producer skipped or repeated sequence numbers.
    #[error("producer {producer_id}: expected sequence {expected}, got {received}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        received: i32,
    },
    /// A configuration value is out of its allowed range.
    #[error("invalid config {name}: {reason}")]
    InvalidConfig { name: &'static str, reason: String },
    /// A file of the partition directory is unusable (bad name, impossible contents).
    #[error("corrupt log file {path}: {reason}")]
    CorruptLog { path: PathBuf, reason: String },
    /// A batch stored on disk fails its checks (CRC-32C, length): it is not served.
    #[error("corrupt record batch in {path} at byte {position}: {reason}")]
    CorruptBatch {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    /// A write, truncation or fsync of this log failed earlier in a way that could leave bytes
    /// on disk the log does not account for (or data the kernel dropped): the log takes no
    /// more writes. The broker takes the partition offline and reopens it, which recovers.
    #[error("log {dir} failed and takes no writes until it is reopened: {reason}")]
    LogFailed { dir: PathBuf, reason: String },
    /// A stored batch could not be decoded (only on paths that look inside records).
    #[error("cannot decode batch at offset {offset}: {reason}")]
    Decode { offset: i64, reason: String },
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| StorageError::Io { op, path, source }
    }

    /// The Kafka protocol error code a broker should answer with.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            StorageError::OffsetOutOfRange { .. } => 1,
            StorageError::InvalidBatch { kind, .. } => kind.kafka_error_code(),
            StorageError::RecordListTooLarge { .. } => 18,
            StorageError::OutOfOrderSequence { .. } => 45,
            StorageError::InvalidProducerEpoch { .. } => 47,
            StorageError::InvalidConfig { .. } => 40,
            StorageError::Io { .. }
            | StorageError::CorruptLog { .. }
            | StorageError::LogFailed { .. } => 56, // KAFKA_STORAGE_ERROR
            // Kafka answers a CorruptRecordException with CORRUPT_MESSAGE.
            StorageError::Decode { .. } | StorageError::CorruptBatch { .. } => 2,
        }
    }
}
