//! Retention (`retention.ms`, `retention.bytes`) and DeleteRecords: deleting whole segments
//! from the front of the log and moving the log start offset.

use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use crate::checkpoint;
use crate::error::StorageError;
use crate::log::{Log, Writer};
use crate::segment::SegmentFiles;

/// What retention rules look at for one segment.
struct Candidate {
    size: u64,
    next_offset: i64,
    /// Largest record timestamp, or the file's modification time when no record has one
    /// (Kafka's `largestTimestamp` fallback).
    largest_timestamp: i64,
}

fn candidate(files: &SegmentFiles) -> Candidate {
    let max = files.max_timestamp().timestamp;
    // Kafka falls back to the file's mtime when no record has a timestamp (-1). 0 is treated the
    // same: before produce recomputed `maxTimestamp` from the records, batches from librdkafka
    // without timestamps were stored with 0 there, and those segments must not look 55 years old.
    let largest_timestamp = if max > 0 {
        max
    } else {
        std::fs::metadata(files.log_path())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(i64::MAX, |d| d.as_millis() as i64)
    };
    Candidate {
        size: files.len(),
        next_offset: files.next_offset(),
        largest_timestamp,
    }
}

impl Log {
    /// Applies Kafka's deletion rules with `now_ms` as the clock: segments whose largest
    /// timestamp is more than `retention.ms` old, then the oldest segments while the log
    /// exceeds `retention.bytes` by at least their size, then segments wholly below the log
    /// start offset. Only prefixes of the log go. If every segment including the non-empty
    /// active one qualifies, the log rolls first so the active data can go too (as Kafka
    /// does). Does nothing under `cleanup.policy=compact`. Returns segments deleted.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        let config = self.config();
        if !config.deletes() {
            return Ok(0);
        }
        let mut w = self.writer.lock();
        let mut deleted = 0;
        if config.retention_ms >= 0 {
            deleted += self.delete_oldest_while(&mut w, |c| {
                now_ms.saturating_sub(c.largest_timestamp) > config.retention_ms
            })?;
        }
        if config.retention_bytes >= 0 {
            let total: u64 =
                w.sealed.values().map(|s| s.size()).sum::<u64>() + w.active.files().len();
            let mut excess = total as i64 - config.retention_bytes;
            deleted += self.delete_oldest_while(&mut w, |c| {
                let go = excess - c.size as i64 >= 0;
                if go {
                    excess -= c.size as i64;
                }
                go
            })?;
        }
        let start = self.log_start_offset();
        deleted += self.delete_oldest_while(&mut w, |c| c.next_offset <= start)?;
        Ok(deleted)
    }

    /// DeleteRecords: moves the log start offset up to `offset` (never down) and deletes the
    /// segments wholly below it. `offset` beyond the log end is
    /// [`StorageError::OffsetOutOfRange`]. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, StorageError> {
        let mut w = self.writer.lock();
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset < 0 || offset > end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        if offset <= start {
            return Ok(start);
        }
        self.log_start.store(offset, Ordering::Release);
        checkpoint::write_offset(self.dir(), checkpoint::LOG_START, offset)?;
        self.update_epochs(&mut w, |c| c.truncate_from_start(offset))?;
        self.delete_oldest_while(&mut w, |c| c.next_offset <= offset)?;
        Ok(self.log_start_offset())
    }

    /// Deletes the longest prefix of segments (sealed, then the active one if non-empty)
    /// accepted by `rule`, and raises the log start to the first remaining segment.
    fn delete_oldest_while(
        &self,
        w: &mut Writer,
        mut rule: impl FnMut(&Candidate) -> bool,
    ) -> Result<usize, StorageError> {
        let mut candidates: Vec<Candidate> =
            w.sealed.values().map(|s| candidate(s.files())).collect();
        if !w.active.is_empty() {
            candidates.push(candidate(w.active.files()));
        }
        let count = candidates.iter().take_while(|c| rule(c)).count();
        if count == 0 {
            return Ok(0);
        }
        if count > w.sealed.len() {
            let config = self.config();
            self.roll(w, &config)?;
        }
        for _ in 0..count {
            let Some((base, segment)) = w.sealed.pop_first() else {
                break;
            };
            self.segments.write().remove(&base);
            w.unsynced.retain(|u| u.files.base_offset() != base);
            segment.delete()?;
            tracing::info!(dir = %self.dir().display(), base, "deleted segment");
        }
        let first = self
            .segments
            .read()
            .keys()
            .next()
            .copied()
            .unwrap_or_else(|| self.log_end_offset());
        if first > self.log_start_offset() {
            self.log_start.store(first, Ordering::Release);
            checkpoint::write_offset(self.dir(), checkpoint::LOG_START, first)?;
            self.update_epochs(w, |c| c.truncate_from_start(first))?;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests;
