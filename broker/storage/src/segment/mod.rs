//! Segments: a run of batches in one `.log` with its two indexes. The active segment takes
//! appends; rolling seals it (`ActiveSegment::seal(self) -> SealedSegment`), after which it is
//! read-only until retention deletes it.

pub(crate) mod active;
mod files;
pub(crate) mod scrub;
mod sealed;

pub(crate) use active::ActiveSegment;
pub(crate) use files::{Indexes, SegmentFiles};
pub(crate) use sealed::SealedSegment;

use crate::batch::BatchHeader;
use crate::TimestampOffset;

/// Sparse indexing as Kafka does it: after more than `index.interval.bytes` have been written
/// since the last entry, the next batch gets an offset entry and the time index gets the largest
/// timestamp so far. Shared by append and by index rebuilds so both produce the same files.
pub(crate) struct Indexer {
    pub(crate) bytes_since_entry: u64,
    pub(crate) max: TimestampOffset,
}

impl Indexer {
    pub(crate) fn new(max: TimestampOffset) -> Indexer {
        Indexer {
            bytes_since_entry: 0,
            max,
        }
    }

    /// Accounts for the batch at `position`. A full index silently skips the entry: lookups
    /// stay correct (they scan forward), and the next append rolls the segment.
    pub(crate) fn add(
        &mut self,
        indexes: &mut Indexes,
        interval: u64,
        position: u64,
        header: &BatchHeader,
    ) {
        if header.max_timestamp > self.max.timestamp {
            self.max = TimestampOffset {
                timestamp: header.max_timestamp,
                offset: header.last_offset(),
            };
        }
        if self.bytes_since_entry > interval {
            indexes.offset.append(header.last_offset(), position);
            indexes
                .time
                .maybe_append(self.max.timestamp, self.max.offset);
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += header.size() as u64;
    }
}
