//! `fjord-storage`: partition logs on disk, in Kafka's own layout.
//!
//! A partition directory holds segments named by their base offset (20 digits): `.log` (record
//! batches v2 exactly as produced, offsets and leader epoch stamped), `.index` and `.timeindex`
//! (sparse, mmap'd), plus small checkpoint files. [`Log`] is the entry point: append, read by
//! offset or timestamp, retention, DeleteRecords, compaction, flush and crash recovery. Sync
//! file I/O only: call it from `spawn_blocking` or a dedicated thread in async code.
//!
//! ```no_run
//! use fjord_storage::{Log, LogConfig};
//! # fn main() -> Result<(), fjord_storage::StorageError> {
//! # let produce_payload: &[u8] = &[];
//! let mut config = LogConfig::default();
//! config.set("retention.ms", "3600000")?; // topic config by Kafka property name
//! config.validate()?;
//! let log = Log::open(std::path::Path::new("/data/orders-0"), config)?;
//! let info = log.append(produce_payload, /* leader epoch */ 0, /* now ms */ 1_700_000_000_000)?;
//! let fetched = log.read(info.base_offset, 1 << 20, /* high watermark */ info.last_offset + 1, true)?;
//! log.apply_retention(1_700_000_000_000)?; // from a periodic task, with cleanup
//! log.close()?; // clean shutdown: the next open skips recovery
//! # let _ = fetched;
//! # Ok(())
//! # }
//! ```

mod batch;
pub mod blocking;
mod checkpoint;
mod compaction;
mod config;
mod error;
mod file_cache;
mod index;
mod leader_epoch;
mod log;
mod mmap;
mod producer_state;
mod records;
mod recovery;
mod retention;
mod segment;
#[cfg(test)]
mod testutil;
pub mod validate;

pub use batch::{BatchHeader, HEADER_LEN};
pub use compaction::{
    Cleaner, CleanerClock, CleanerConfig, CleanerThreads, CompactionStats, LogSource,
};
pub use config::{CleanupPolicy, LogConfig, TimestampType};
pub use error::{BatchError, StorageError};
pub use file_cache::{FileCache, DEFAULT_OPEN_SEGMENT_FILES};
pub use leader_epoch::{EpochEntry, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
pub use log::{FileSlice, Log, ScrubProgress, SliceRead};
pub use validate::{decompressed_limit, RecordReader, RecordView};

use bytes::Bytes;

/// The outcome of [`Log::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset assigned to the last record.
    pub last_offset: i64,
    /// The append time stamped on the batches, or -1 unless `LogAppendTime`.
    pub log_append_time: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Records appended.
    pub record_count: i64,
    /// Largest batch timestamp appended.
    pub max_timestamp: i64,
    /// An idempotent retry: nothing was appended, the offsets are the original ones.
    pub duplicate: bool,
}

/// The outcome of [`Log::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches, concatenated as stored.
    pub records: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// A record's timestamp and offset (ListOffsets answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

impl TimestampOffset {
    /// "No record": Kafka's -1/-1.
    pub const NONE: TimestampOffset = TimestampOffset {
        timestamp: -1,
        offset: -1,
    };
}
