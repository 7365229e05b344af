//! `Log::truncate_to`: follower truncation for replication.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::open::load_producers;
use super::Log;
use crate::checkpoint;
use crate::error::StorageError;
use crate::recovery::rebuild_segment;
use crate::segment::{ActiveSegment, SegmentFiles};

impl Log {
    /// Drops every batch holding an offset `>= offset` (a batch straddling `offset` goes
    /// whole, as in Kafka, so the log end may land below `offset`). Later segments are deleted,
    /// the segment holding `offset` is cut and becomes the active one. Truncating below the log
    /// start empties the log and restarts it at `offset`. Producer state is rebuilt; the
    /// leader-epoch cache loses the epochs that started at or after the new end.
    pub fn truncate_to(&self, offset: i64) -> Result<(), StorageError> {
        let config = self.config();
        let mut written = self.checkpointer.lock();
        let mut w = self.writer.lock();
        let offset = offset.max(0);
        if offset >= self.log_end_offset() {
            // No batch to drop, but an epoch this replica recorded as leader without writing
            // under it may start here: it must go, or a follower would ask for it again.
            return self.update_epochs(&mut w, |c| c.truncate_from_end(offset));
        }
        self.before_write(&mut w)?;
        let mut all: Vec<Arc<SegmentFiles>> =
            w.sealed.values().map(|s| s.files().clone()).collect();
        all.push(w.active.files().clone());
        let restart = offset < self.log_start_offset();
        let keep = if restart {
            None
        } else {
            all.iter().rev().find(|s| s.base_offset() < offset).cloned()
        };
        // Start the replacement active segment before deleting anything it may replace.
        let new_active = match &keep {
            Some(files) => {
                let cut = files
                    .find_batch(offset)?
                    .map_or(files.len(), |(pos, _)| pos);
                files.truncate_log(cut)?;
                rebuild_segment(files, config.index_interval_bytes, false)?;
                ActiveSegment::resume(files.clone(), &config)?
            }
            None => {
                for s in &all {
                    s.delete()?;
                }
                ActiveSegment::create(&self.dir, offset, &config, &self.cache)?
            }
        };
        let keep_base = new_active.base_offset();
        {
            let mut map = self.segments.write();
            for s in &all {
                if s.base_offset() > keep_base || (keep.is_none() && s.base_offset() != offset) {
                    map.remove(&s.base_offset());
                    if keep.is_some() {
                        s.delete()?;
                    }
                }
            }
            map.insert(keep_base, new_active.files().clone());
        }
        w.sealed.retain(|base, _| *base < keep_base);
        w.unsynced.retain(|u| u.files.base_offset() < keep_base);
        w.active = new_active;
        w.dir_dirty = true;
        let end = w.active.files().next_offset();
        self.log_end.store(end, Ordering::Release);
        if restart {
            self.log_start.store(offset, Ordering::Release);
            checkpoint::write_offset(&self.dir, checkpoint::LOG_START, offset)?;
        }
        {
            // Offsets re-appended after the cut are not durable, whatever was synced before.
            let mut sync = self.sync.lock();
            sync.durable = sync.durable.min(end);
        }
        if w.recovery_point > end || *written > end {
            w.recovery_point = w.recovery_point.min(end);
            *written = w.recovery_point;
            checkpoint::write_offset(&self.dir, checkpoint::RECOVERY_POINT, w.recovery_point)?;
        }
        if restart {
            self.update_epochs(&mut w, |c| c.clear())?;
        } else {
            self.update_epochs(&mut w, |c| c.truncate_from_end(end))?;
        }
        // Snapshots above the new end describe batches that are gone: load_producers drops them.
        w.producers = load_producers(self)?;
        Ok(())
    }
}
