//! Grouped fsync (`flush.messages`, `flush.ms`) off the append lock, and the failed state a
//! log enters when a write or an fsync fails in a way it cannot undo.
//!
//! Group commit: every append that must be durable before it is acknowledged calls
//! [`Log::sync_to`] with its end offset after releasing the append lock. One caller at a time
//! runs the fsync (the leader); it first notes the log end under the append lock, so its
//! `fdatasync` covers every byte appended before that point. Callers arriving meanwhile wait;
//! when the leader finishes, all whose offsets are covered return at once and the first of the
//! others leads the next round, which covers everything appended during the previous one. So
//! N concurrent produce requests to a partition share one fsync instead of queueing N, and
//! appends never wait for an fsync to finish.
//!
//! Failure: after a failed fsync the kernel may have dropped the dirty pages it could not write
//! (and will not report it again), and after a failed cut of a partial write the file holds
//! bytes the log does not account for. Neither can be trusted further, so the log refuses
//! every later write with [`StorageError::LogFailed`]; the broker takes the partition offline
//! and reopens it, and the reopen's recovery re-validates the tail and cuts what is torn.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Log, Writer};
use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::producer_state::snapshot;
use crate::segment::SegmentFiles;

/// The grouped fsync's state, behind [`Log::sync`]. Lock order: `writer` before `sync`.
pub(crate) struct SyncState {
    /// Offsets below this are fsynced.
    pub(crate) durable: i64,
    /// A caller is running an fsync round now.
    pub(crate) running: bool,
    /// Why the log stopped taking writes, once it did.
    pub(crate) failed: Option<String>,
}

impl SyncState {
    pub(crate) fn new(durable: i64) -> SyncState {
        SyncState {
            durable,
            running: false,
            failed: None,
        }
    }
}

impl Log {
    /// Returns once every offset below `target` is fsynced, running the fsync itself unless a
    /// round already in progress or about to start covers it (see the module comment).
    pub fn sync_to(&self, target: i64) -> Result<(), StorageError> {
        let mut s = self.sync.lock();
        loop {
            if let Some(reason) = &s.failed {
                return Err(self.failed_error(reason));
            }
            if s.durable >= target {
                return Ok(());
            }
            if !s.running {
                break;
            }
            self.synced.wait(&mut s);
        }
        s.running = true;
        drop(s);
        let result = self.sync_round();
        let mut s = self.sync.lock();
        s.running = false;
        let out = match result {
            Ok(end) => {
                s.durable = s.durable.max(end);
                Ok(())
            }
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "fsync failed; the log takes no more writes until it is reopened");
                s.failed.get_or_insert_with(|| e.to_string());
                Err(e)
            }
        };
        self.synced.notify_all();
        out
    }

    /// One fsync round: notes the log end and what is unsynced under the append lock, fsyncs
    /// without it, then advances the recovery point. Returns the offset made durable.
    fn sync_round(&self) -> Result<i64, StorageError> {
        type Pending = Vec<(Arc<SegmentFiles>, PathBuf)>;
        let (end, pending, active, dir_dirty): (i64, Pending, Arc<SegmentFiles>, bool) = {
            let mut w = self.writer.lock();
            let pending = w
                .unsynced
                .iter()
                .map(|u| (u.files.clone(), u.snapshot.clone()))
                .collect();
            // Messages appended from here on count towards the next flush.
            w.unflushed_messages = 0;
            w.last_flush_ms = w.last_now_ms;
            (
                self.log_end_offset(),
                pending,
                w.active.files().clone(),
                std::mem::take(&mut w.dir_dirty),
            )
        };
        for (files, snapshot_path) in &pending {
            files.flush()?;
            snapshot::sync(snapshot_path)?;
        }
        // If a roll happened since, this is the sealed segment: syncing it is still what
        // makes offsets below `end` durable.
        active.flush_log()?;
        if dir_dirty {
            checkpoint::sync_dir(&self.dir)?;
        }
        {
            let mut w = self.writer.lock();
            w.unsynced
                .retain(|u| !pending.iter().any(|(f, _)| Arc::ptr_eq(f, &u.files)));
            if end > w.recovery_point {
                w.recovery_point = end;
            }
        }
        self.checkpoint_recovery_point()?;
        Ok(end)
    }

    /// Whether `flush.messages` or `flush.ms` asks for a flush now.
    pub(crate) fn flush_due(&self, w: &Writer, config: &LogConfig, now_ms: i64) -> bool {
        let by_count = w.unflushed_messages >= config.flush_interval_messages;
        let by_time = config.flush_interval_ms != u64::MAX
            && w.unflushed_messages > 0
            && now_ms.saturating_sub(w.last_flush_ms) >= config.flush_interval_ms as i64;
        by_count || by_time
    }

    /// Stops the log from taking writes (see the module comment); logged once.
    pub(crate) fn fail(&self, reason: String) {
        let mut s = self.sync.lock();
        if s.failed.is_none() {
            tracing::error!(dir = %self.dir.display(), %reason, "log failed; it takes no more writes until it is reopened");
            s.failed = Some(reason);
            self.synced.notify_all();
        }
    }

    /// Why the log takes no writes, if it stopped taking them.
    pub fn failure(&self) -> Option<String> {
        self.sync.lock().failed.clone()
    }

    /// `Err` once the log has failed.
    pub(crate) fn check_writable(&self) -> Result<(), StorageError> {
        match &self.sync.lock().failed {
            Some(reason) => Err(self.failed_error(reason)),
            None => Ok(()),
        }
    }

    fn failed_error(&self, reason: &str) -> StorageError {
        StorageError::LogFailed {
            dir: self.dir.clone(),
            reason: reason.to_string(),
        }
    }

    /// Records that everything below `end` is durable (a flush under the append lock did it).
    pub(crate) fn mark_durable(&self, end: i64) {
        let mut s = self.sync.lock();
        s.durable = s.durable.max(end);
    }
}
