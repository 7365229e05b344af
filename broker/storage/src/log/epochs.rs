//! The log's leader-epoch cache (see [`crate::leader_epoch`]): changed under the append lock,
//! read under its own short lock; updated by appends (before their data is written, so a crash can only leave an entry past
//! the data, which the next open cuts), truncations and log start moves, and rebuilt from the
//! batch headers when its checkpoint is missing or corrupt.

use std::sync::Arc;

use super::{Log, Writer};
use crate::error::StorageError;
use crate::leader_epoch::{self, EpochEntry, LeaderEpochCache};
use crate::segment::SegmentFiles;

impl Log {
    /// Records that `epoch` starts at `start_offset` (a new leader does it at its log end when
    /// it takes over, as Kafka's `makeLeader`, so the previous epoch's end is known before the
    /// first append of the new one). Persisted before it returns.
    pub fn assign_epoch(&self, epoch: i32, start_offset: i64) -> Result<(), StorageError> {
        let mut w = self.writer.lock();
        self.record_epochs(&mut w, std::iter::once((epoch, start_offset)))
    }

    /// OffsetForLeaderEpoch: the largest epoch `<= epoch` this log knows and the offset where
    /// it ends (see `LeaderEpochCache::end_offset_for`), or Kafka's `(-1, -1)`.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        // An append records its epoch before it publishes the new log end, so the latest
        // epoch never ends before offsets it has not written.
        let epochs = self.epochs.read();
        epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// The epoch of the last batch (or of the last leader to take over), if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.read().latest().map(|e| e.epoch)
    }

    /// The epoch that wrote `offset`, if the cache knows.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.epochs.read().epoch_for_offset(offset)
    }

    /// Every cached `(epoch, start offset)`, oldest first.
    pub fn leader_epochs(&self) -> Vec<EpochEntry> {
        self.epochs.read().entries().to_vec()
    }

    /// Assigns each `(epoch, base offset)` in order and writes the checkpoint once if the
    /// cache changed. The in-memory cache changes only once the file is written. `_w` proves
    /// the append lock is held: it serialises every change.
    pub(crate) fn record_epochs(
        &self,
        _w: &mut Writer,
        batches: impl IntoIterator<Item = (i32, i64)>,
    ) -> Result<(), StorageError> {
        let mut next: Option<LeaderEpochCache> = None;
        for (epoch, base) in batches {
            let needed = match &next {
                Some(n) => n.needs(epoch, base),
                None => self.epochs.read().needs(epoch, base),
            };
            if needed {
                next.get_or_insert_with(|| self.epochs.read().clone())
                    .assign(epoch, base);
            }
        }
        if let Some(next) = next {
            next.write(&self.dir)?;
            *self.epochs.write() = next;
        }
        Ok(())
    }

    /// Applies `change` to a copy of the cache and, if it changed anything, writes the
    /// checkpoint and installs it. Called under the append lock (`_w`).
    pub(crate) fn update_epochs(
        &self,
        _w: &mut Writer,
        change: impl FnOnce(&mut LeaderEpochCache) -> bool,
    ) -> Result<(), StorageError> {
        let mut next = self.epochs.read().clone();
        if change(&mut next) {
            next.write(&self.dir)?;
            *self.epochs.write() = next;
        }
        Ok(())
    }
}

/// The cache for a log just opened: the checkpoint cut to the log's offsets, or, when it is
/// missing or cannot be trusted, rebuilt from every batch header (and written).
pub(super) fn load_epochs(log: &Log) -> Result<LeaderEpochCache, StorageError> {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let stored = match LeaderEpochCache::read(&log.dir) {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(dir = %log.dir.display(), error = %e, "rebuilding the leader epoch cache from the log");
            None
        }
    };
    let mut cache = match stored {
        Some(mut cache) => {
            let mut changed = cache.truncate_from_end(end);
            changed |= cache.truncate_from_start(start);
            if changed {
                cache.write(&log.dir)?;
            }
            return Ok(cache);
        }
        None => rebuild(log)?,
    };
    cache.truncate_from_start(start);
    if !cache.entries().is_empty() || log.dir.join(leader_epoch::FILE).exists() {
        cache.write(&log.dir)?;
    }
    Ok(cache)
}

/// Every batch header of the log, in order, folded into a cache.
fn rebuild(log: &Log) -> Result<LeaderEpochCache, StorageError> {
    let mut cache = LeaderEpochCache::default();
    let segments: Vec<Arc<SegmentFiles>> = log.segments.read().values().cloned().collect();
    for files in segments {
        let limit = files.len();
        let mut position = 0;
        while let Some(header) = files.header_at(position, limit)? {
            cache.assign(header.partition_leader_epoch, header.base_offset);
            position += header.size() as u64;
        }
    }
    Ok(cache)
}

#[cfg(test)]
mod tests {
    use crate::leader_epoch::{EpochEntry, FILE};
    use crate::testutil::{small_config, BatchBuilder};
    use crate::Log;

    fn entries(log: &Log) -> Vec<(i32, i64)> {
        log.leader_epochs()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn appends_truncation_and_retention_keep_the_cache_and_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_config()).unwrap();
        assert!(!dir.path().join(FILE).exists(), "no file for an empty log");
        log.append(&BatchBuilder::new(3).build(), 1, 0).unwrap();
        log.append(&BatchBuilder::new(2).build(), 1, 0).unwrap();
        log.assign_epoch(4, log.log_end_offset()).unwrap();
        log.append(&BatchBuilder::new(5).build(), 4, 0).unwrap();
        log.append(&BatchBuilder::new(1).build(), 6, 0).unwrap();
        assert_eq!(entries(&log), vec![(1, 0), (4, 5), (6, 10)]);
        assert_eq!(log.end_offset_for_epoch(1), (1, 5));
        assert_eq!(log.end_offset_for_epoch(5), (4, 10));
        assert_eq!(log.end_offset_for_epoch(6), (6, 11));
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(text, "0\n3\n1 0\n4 5\n6 10\n");

        log.truncate_to(7).unwrap();
        assert_eq!(entries(&log), vec![(1, 0)], "a straddling batch goes whole");
        assert_eq!(log.log_end_offset(), 5);
        log.delete_records_before(2).unwrap();
        assert_eq!(entries(&log), vec![(1, 2)]);
        drop(log);
        let log = Log::open(dir.path(), small_config()).unwrap();
        assert_eq!(entries(&log), vec![(1, 2)], "reloaded from the checkpoint");
    }

    #[test]
    fn a_missing_or_corrupt_checkpoint_is_rebuilt_from_the_batches() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_config()).unwrap();
        for (epoch, n) in [(0, 2), (0, 1), (3, 4), (7, 2)] {
            log.append(&BatchBuilder::new(n).build(), epoch, 0).unwrap();
        }
        let want = vec![(0, 0), (3, 3), (7, 7)];
        assert_eq!(entries(&log), want);
        log.close().unwrap();
        std::fs::remove_file(dir.path().join(FILE)).unwrap();
        let log = Log::open(dir.path(), small_config()).unwrap();
        assert_eq!(entries(&log), want, "rebuilt when missing");
        log.close().unwrap();
        std::fs::write(dir.path().join(FILE), "0\n1000000000\n0 0\n").unwrap();
        let log = Log::open(dir.path(), small_config()).unwrap();
        assert_eq!(entries(&log), want, "rebuilt when corrupt");
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(text, "0\n3\n0 0\n3 3\n7 7\n", "and rewritten");
    }

    #[test]
    fn entries_past_the_recovered_log_end_are_dropped_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_config()).unwrap();
        log.append(&BatchBuilder::new(2).build(), 2, 0).unwrap();
        log.assign_epoch(5, 2).unwrap(); // a leader took over, then crashed before appending
        assert_eq!(
            log.leader_epochs().last(),
            Some(&EpochEntry {
                epoch: 5,
                start_offset: 2
            })
        );
        drop(log);
        let log = Log::open(dir.path(), small_config()).unwrap();
        assert_eq!(entries(&log), vec![(2, 0)]);
    }

    #[test]
    fn truncating_at_the_log_end_drops_an_epoch_that_wrote_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_config()).unwrap();
        log.append(&BatchBuilder::new(2).build(), 1, 0).unwrap();
        log.assign_epoch(3, 2).unwrap(); // led briefly, wrote nothing, now follows
        assert_eq!(log.latest_epoch(), Some(3));
        log.truncate_to(2).unwrap();
        assert_eq!(entries(&log), vec![(1, 0)]);
        assert_eq!(log.log_end_offset(), 2);
    }

    #[test]
    fn a_follower_takes_the_epochs_of_its_leaders_batches() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let leader = Log::open(a.path(), small_config()).unwrap();
        let follower = Log::open(b.path(), small_config()).unwrap();
        leader.append(&BatchBuilder::new(3).build(), 4, 0).unwrap();
        leader.append(&BatchBuilder::new(2).build(), 9, 0).unwrap();
        let copied = leader.read(0, 1 << 20, i64::MAX, true).unwrap().records;
        follower.append_as_follower(&copied, 0).unwrap();
        assert_eq!(entries(&follower), vec![(4, 0), (9, 3)]);
    }
}
