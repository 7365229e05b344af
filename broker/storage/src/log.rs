//! [`Log`]: one partition's log.

mod append;
#[cfg(test)]
mod descriptor_tests;
mod epochs;
mod follower;
mod open;
mod read;
mod scrub;
mod slices;
mod sync;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod tests;
mod timestamp;
mod truncate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::file_cache::FileCache;
use crate::leader_epoch::LeaderEpochCache;
use crate::producer_state::{snapshot, ProducerStates};
use crate::segment::{ActiveSegment, SealedSegment, SegmentFiles};

pub use scrub::ScrubProgress;
pub use slices::{FileSlice, SliceRead};
pub(crate) use sync::SyncState;

/// A partition log in a directory `<topic>-<partition>/`.
///
/// On disk: segments `<base offset, 20 digits>.log|.index|.timeindex` (see [`crate::segment`]
/// and [`crate::index`]), plus `recovery-point-offset-checkpoint` (everything below it was
/// fsynced), `log-start-offset-checkpoint` (DeleteRecords), producer state snapshots
/// `<offset>.snapshot` (written at every roll and by a clean close), `leader-epoch-checkpoint`
/// (see [`crate::leader_epoch`]), and, only between a clean
/// [`Log::close`] and the next [`Log::open`], `.kafka_cleanshutdown`.
///
/// Thread-safety: `Send + Sync`, meant to be shared in an `Arc`. Appends, rolls, retention and
/// truncation are serialised by one mutex. Reads take no lock held by appends across I/O: they
/// clone `Arc`s of segments from a map under a short read lock and `pread` up to each segment's
/// published length, so a concurrent retention delete or roll never breaks them.
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) config: RwLock<LogConfig>,
    pub(crate) writer: Mutex<Writer>,
    /// Every segment, active included, by base offset: what readers see.
    pub(crate) segments: RwLock<BTreeMap<i64, Arc<SegmentFiles>>>,
    pub(crate) log_start: AtomicI64,
    pub(crate) log_end: AtomicI64,
    /// Serialises compaction passes (which run mostly outside `writer`).
    pub(crate) compaction: Mutex<()>,
    /// Open descriptors of sealed segments, shared by every log of the process.
    pub(crate) cache: Arc<FileCache>,
    /// Serialises [`Log::flush_sealed`] passes (which fsync outside `writer`).
    pub(crate) sealer: Mutex<()>,
    /// The grouped fsync and the failed state (see `log/sync.rs`).
    pub(crate) sync: Mutex<SyncState>,
    /// Signalled when an fsync round ends or the log fails.
    pub(crate) synced: Condvar,
    /// The recovery point last written to `recovery-point-offset-checkpoint`. Its lock
    /// serialises checkpoint writes, which happen off the append lock (a write and two fsyncs
    /// per segment roll must not stall appends). Lock order: `checkpointer` before `writer`.
    pub(crate) checkpointer: Mutex<i64>,
    /// The first offset of every leader epoch in the log (KIP-101). Changed only under
    /// `writer` (then this lock, briefly), so readers never wait for an append's I/O.
    pub(crate) epochs: RwLock<LeaderEpochCache>,
}

/// A rolled segment whose files (and the producer snapshot taken at the roll) are not yet
/// fsynced: [`Log::flush_sealed`] does it off the append lock, as Kafka flushes the old segment
/// asynchronously after a roll.
pub(crate) struct Unsynced {
    pub(crate) files: Arc<SegmentFiles>,
    pub(crate) snapshot: PathBuf,
}

/// State only the appender touches.
pub(crate) struct Writer {
    pub(crate) active: ActiveSegment,
    pub(crate) sealed: BTreeMap<i64, SealedSegment>,
    pub(crate) producers: ProducerStates,
    /// Offset below which everything is fsynced.
    pub(crate) recovery_point: i64,
    /// Rolled segments awaiting their fsync, oldest first.
    pub(crate) unsynced: Vec<Unsynced>,
    /// A segment file was created since the directory was last fsynced.
    pub(crate) dir_dirty: bool,
    /// The clean-shutdown marker was removed by open and the removal is not durable yet: it
    /// must be before the first write, or a crash could bring it back and make the next open
    /// trust a tail that was never flushed.
    pub(crate) marker_removal_unsynced: bool,
    pub(crate) unflushed_messages: u64,
    pub(crate) last_flush_ms: i64,
    /// Latest `now_ms` seen, the clock for `flush.ms` when `flush()` is called without one.
    pub(crate) last_now_ms: i64,
    /// Reused between appends: the request's batches with offsets stamped.
    pub(crate) buf: Vec<u8>,
    /// When idle producers were last expired (`now_ms`).
    pub(crate) last_producer_expiry_ms: i64,
}

/// How often idle producers are looked for (Kafka's
/// `producer.id.expiration.check.interval.ms` default).
const PRODUCER_EXPIRY_CHECK_MS: i64 = 10 * 60 * 1000;

impl Log {
    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces the configuration (a topic config change). Applies from the next append;
    /// index preallocation changes with the next segment.
    pub fn set_config(&self, config: LogConfig) {
        *self.config.write() = config;
    }

    pub fn config(&self) -> LogConfig {
        *self.config.read()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }

    /// The next offset to be assigned.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end.load(Ordering::Acquire)
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.read().values().map(|s| s.len()).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.read().len()
    }

    /// Time-based roll: seals the active segment if `segment.ms` has passed since its first
    /// append (also checked by every append), a timed flush (`flush.ms`), every ten minutes
    /// expiry of idle producer ids (`producer_id_expiration_ms`), and then the fsync of
    /// segments rolled since the last call ([`Log::flush_sealed`]).
    pub fn maybe_roll(&self, now_ms: i64) -> Result<(), StorageError> {
        let config = self.config();
        let flush_to = {
            let mut w = self.writer.lock();
            w.last_now_ms = w.last_now_ms.max(now_ms);
            if !w.active.is_empty() && w.active.is_expired(now_ms, &config) {
                self.roll(&mut w, &config)?;
            }
            if now_ms.saturating_sub(w.last_producer_expiry_ms) >= PRODUCER_EXPIRY_CHECK_MS {
                w.last_producer_expiry_ms = now_ms;
                let expired = w.producers.expire(now_ms, config.producer_id_expiration_ms);
                if expired > 0 {
                    tracing::debug!(dir = %self.dir.display(), expired, "expired idle producer ids");
                }
            }
            self.flush_due(&w, &config, now_ms)
                .then(|| self.log_end_offset())
        };
        if let Some(end) = flush_to {
            self.sync_to(end)?;
        }
        self.flush_sealed()
    }

    /// fsyncs the segments rolled since the last call, with their producer snapshots and the
    /// directory, without holding the append lock, then advances the recovery point past them.
    /// Appends and reads continue meanwhile. Called by [`Log::maybe_roll`].
    pub fn flush_sealed(&self) -> Result<(), StorageError> {
        let _one_pass = self.sealer.lock();
        let pending: Vec<(Arc<SegmentFiles>, PathBuf)> = self
            .writer
            .lock()
            .unsynced
            .iter()
            .map(|u| (u.files.clone(), u.snapshot.clone()))
            .collect();
        let Some((last, _)) = pending.last() else {
            return Ok(());
        };
        for (files, snapshot_path) in &pending {
            files.flush()?;
            snapshot::sync(snapshot_path)?;
        }
        // Covers the rolled segments' names, the snapshots' and the new active segment's.
        checkpoint::sync_dir(&self.dir)?;
        let end = last.next_offset();
        {
            let mut w = self.writer.lock();
            w.unsynced
                .retain(|u| !pending.iter().any(|(f, _)| Arc::ptr_eq(f, &u.files)));
            // A flush under the lock may have synced them (and more) meanwhile.
            if end > w.recovery_point {
                w.recovery_point = end;
            }
        }
        self.checkpoint_recovery_point()
    }

    /// fsyncs the log's unsynced data and advances the recovery point to the log end.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.flush_locked(&mut self.writer.lock())?;
        self.checkpoint_recovery_point()
    }

    /// Flushes what is not yet durable, trims the active segment's indexes, writes a producer
    /// state snapshot and the clean shutdown marker, so the next open skips recovery. A log
    /// with nothing unflushed costs no fsync: what close writes besides the data is checked at
    /// the next open (index consistency, snapshot CRC, marker presence) and rebuilt if a crash
    /// lost it, so only the data needs to be durable first.
    pub fn close(self) -> Result<(), StorageError> {
        let mut written = self.checkpointer.lock();
        let mut w = self.writer.lock();
        let end = self.log_end_offset();
        if w.unflushed_messages > 0 || !w.unsynced.is_empty() || w.recovery_point != end {
            self.flush_locked(&mut w)?;
        }
        w.active.trim_indexes()?;
        if *written != w.recovery_point {
            checkpoint::write_offset(&self.dir, checkpoint::RECOVERY_POINT, w.recovery_point)?;
            *written = w.recovery_point;
        }
        snapshot::write(&self.dir, end, &w.producers, false)?;
        snapshot::prune(&self.dir, end)?;
        checkpoint::mark_clean(&self.dir)
    }

    /// Makes the removal of the clean-shutdown marker durable before the log changes.
    pub(crate) fn before_write(&self, w: &mut Writer) -> Result<(), StorageError> {
        if std::mem::take(&mut w.marker_removal_unsynced) {
            checkpoint::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// The fewest fsyncs that make everything appended durable: rolled segments not yet
    /// synced (their data may hold unflushed messages), then the active segment's data only.
    /// Its indexes are not synced: recovery always rebuilds the last segment's indexes, so an
    /// index flush would buy nothing.
    fn flush_locked(&self, w: &mut Writer) -> Result<(), StorageError> {
        self.check_writable()?;
        let result = self.flush_locked_inner(w);
        if let Err(e) = &result {
            self.fail(format!("flush failed: {e}"));
        }
        result
    }

    fn flush_locked_inner(&self, w: &mut Writer) -> Result<(), StorageError> {
        for u in &w.unsynced {
            u.files.flush()?;
            snapshot::sync(&u.snapshot)?;
        }
        w.unsynced.clear();
        w.active.files().flush_log()?;
        if std::mem::take(&mut w.dir_dirty) {
            checkpoint::sync_dir(&self.dir)?;
        }
        // The checkpoint file follows once the caller released the append lock.
        w.recovery_point = self.log_end_offset();
        w.unflushed_messages = 0;
        w.last_flush_ms = w.last_now_ms;
        self.mark_durable(w.recovery_point);
        Ok(())
    }

    /// Writes the recovery point checkpoint when it moved to another segment. Recovery
    /// re-validates from the start of the segment holding the checkpointed offset, so moving
    /// it within a segment would cost a file write and two fsyncs for nothing. Called without
    /// the append lock: the write and its fsyncs (once per roll) never stall appends.
    pub(crate) fn checkpoint_recovery_point(&self) -> Result<(), StorageError> {
        let mut written = self.checkpointer.lock();
        let point = self.writer.lock().recovery_point;
        let segment_of = |offset: i64| {
            self.segments
                .read()
                .range(..=offset)
                .next_back()
                .map(|(base, _)| *base)
        };
        if point != *written && segment_of(point) != segment_of(*written) {
            checkpoint::write_offset(&self.dir, checkpoint::RECOVERY_POINT, point)?;
            *written = point;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at the log end, and snapshots the
    /// producer state at the new base offset (Kafka's roll). Nothing is fsynced here: the
    /// sealed segment and the snapshot wait in `unsynced` for [`Log::flush_sealed`], so a roll
    /// never holds the append lock across the fsync of a whole segment.
    pub(crate) fn roll(&self, w: &mut Writer, config: &LogConfig) -> Result<(), StorageError> {
        let base = self.log_end_offset();
        if w.active.base_offset() == base {
            return Ok(()); // empty: nothing to seal
        }
        let fresh = ActiveSegment::create(&self.dir, base, config, &self.cache)?;
        self.segments.write().insert(base, fresh.files().clone());
        let old = std::mem::replace(&mut w.active, fresh);
        // From here a failure would lose track of the old segment: the log stops taking
        // writes and the reopen rebuilds its state from the files.
        let finished = old.seal().and_then(|sealed| {
            let snapshot = snapshot::write(&self.dir, base, &w.producers, false)?;
            snapshot::prune(&self.dir, base)?;
            Ok((sealed, snapshot))
        });
        let (sealed, snapshot) = match finished {
            Ok(done) => done,
            Err(e) => {
                self.fail(format!("roll to offset {base} failed: {e}"));
                return Err(e);
            }
        };
        tracing::debug!(dir = %self.dir.display(), base, "rolled segment");
        w.dir_dirty = true;
        w.unsynced.push(Unsynced {
            files: sealed.files().clone(),
            snapshot,
        });
        w.sealed.insert(sealed.base_offset(), sealed);
        Ok(())
    }
}
