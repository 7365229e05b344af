//! The active segment: the only one that takes appends.

use std::path::Path;
use std::sync::Arc;

use super::{Indexer, SealedSegment, SegmentFiles};
use crate::batch::BatchHeader;
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::file_cache::FileCache;

/// The tail segment of a log. Owned by the log's writer (behind its append mutex); readers see
/// it through the shared [`SegmentFiles`]. Its indexes are preallocated to
/// `segment.index.bytes`; [`ActiveSegment::seal`] trims them and fsyncs everything.
///
/// Format: see [`SegmentFiles`]. Thread-safety: `Send`, mutated only through `&mut self`.
pub(crate) struct ActiveSegment {
    files: Arc<SegmentFiles>,
    indexer: Indexer,
    /// When the first batch was appended (wall clock), the start of `segment.ms`.
    rolling_since_ms: Option<i64>,
}

/// A batch of an append: its position inside the appended bytes and its stamped header.
pub(crate) struct PlacedBatch {
    pub(crate) position: usize,
    pub(crate) header: BatchHeader,
}

impl ActiveSegment {
    /// Creates a new empty segment at `base_offset`.
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        cache: &Arc<FileCache>,
    ) -> Result<ActiveSegment, StorageError> {
        let files = Arc::new(SegmentFiles::create(dir, base_offset, cache)?);
        Self::resume(files, config)
    }

    /// Continues appending to an existing, scanned segment (the last one after open).
    pub(crate) fn resume(
        files: Arc<SegmentFiles>,
        config: &LogConfig,
    ) -> Result<ActiveSegment, StorageError> {
        files.pin_writable()?;
        let mut bytes_since_entry = files.len();
        {
            let mut idx = files.indexes_mut();
            if let Some((_, position)) = idx.offset.last() {
                bytes_since_entry = files.len().saturating_sub(position);
            }
            idx.offset.file().preallocate(config.segment_index_bytes)?;
            idx.time.file().preallocate(config.segment_index_bytes)?;
        }
        // After a restart the first append time is unknown; like Kafka, fall back to the first
        // batch's timestamp.
        let rolling_since_ms = files.header_at(0, files.len())?.map(|h| h.max_timestamp);
        let indexer = Indexer {
            bytes_since_entry,
            max: files.max_timestamp(),
        };
        Ok(ActiveSegment {
            files,
            indexer,
            rolling_since_ms,
        })
    }

    pub(crate) fn files(&self) -> &Arc<SegmentFiles> {
        &self.files
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.files.base_offset()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.files.len() == 0
    }

    /// Whether an append of `size` bytes ending at `last_offset` must go to a new segment.
    pub(crate) fn should_roll(
        &self,
        size: u64,
        last_offset: i64,
        now_ms: i64,
        config: &LogConfig,
    ) -> bool {
        if self.is_empty() {
            return false;
        }
        let idx = self.files.indexes();
        self.files.len() + size > config.segment_bytes
            || self.is_expired(now_ms, config)
            || idx.offset.is_full()
            || idx.time.is_full()
            || last_offset - self.base_offset() > i64::from(i32::MAX)
    }

    /// `segment.ms` has passed since the first append.
    pub(crate) fn is_expired(&self, now_ms: i64, config: &LogConfig) -> bool {
        match self.rolling_since_ms {
            Some(since) => {
                now_ms.saturating_sub(since) >= config.segment_ms.min(i64::MAX as u64) as i64
            }
            None => false,
        }
    }

    /// Appends already stamped and validated batches (`data`), then publishes them to readers
    /// and indexes them.
    pub(crate) fn append(
        &mut self,
        data: &[u8],
        batches: &[PlacedBatch],
        now_ms: i64,
        index_interval: u64,
    ) -> Result<(), StorageError> {
        let Some(last) = batches.last() else {
            return Ok(());
        };
        let start = self.files.len();
        self.files.write_at(data, start)?;
        self.files
            .publish(start + data.len() as u64, last.header.last_offset() + 1);
        {
            let mut idx = self.files.indexes_mut();
            for b in batches {
                self.indexer.add(
                    &mut idx,
                    index_interval,
                    start + b.position as u64,
                    &b.header,
                );
            }
        }
        self.files.set_max_timestamp(self.indexer.max);
        self.rolling_since_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Trims the indexes to their entries (clean close keeps the files Kafka-shaped).
    pub(crate) fn trim_indexes(&self) -> Result<(), StorageError> {
        let mut idx = self.files.indexes_mut();
        idx.offset.file().trim()?;
        idx.time.file().trim()
    }

    /// Ends appends: records the final largest timestamp in the time index and trims both
    /// indexes. Nothing is fsynced: the log does it off its append lock.
    pub(crate) fn seal(self) -> Result<SealedSegment, StorageError> {
        {
            let mut idx = self.files.indexes_mut();
            let max = self.indexer.max;
            if max.offset >= 0 {
                idx.time.maybe_append(max.timestamp, max.offset);
            }
        }
        self.trim_indexes()?;
        self.files.unpin();
        Ok(SealedSegment::from_files(self.files))
    }
}
