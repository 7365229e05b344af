//! The dirty section of a log and whether it is worth cleaning (Kafka's
//! `LogCleanerManager.cleanableOffsets` and dirty ratio).

use super::checkpoint::{self, CleanerCheckpoint};
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::log::Log;
use crate::segment::SealedSegment;

/// The log as one pass sees it.
pub(super) struct DirtySection {
    /// Sealed segments, by base offset, when the section was taken.
    pub(super) sealed: Vec<SealedSegment>,
    /// First offset not yet through an offset map.
    pub(super) first_dirty: i64,
    /// First offset that may not be cleaned yet: the active segment, or the first segment
    /// younger than `min.compaction.lag.ms`.
    pub(super) first_uncleanable: i64,
    pub(super) clean_bytes: u64,
    pub(super) dirty_bytes: u64,
    /// Largest timestamp of the first dirty batch (`max.compaction.lag.ms`), if any.
    first_dirty_timestamp: Option<i64>,
    /// Earliest delete horizon of a tombstone kept by an earlier pass, `-1` for none.
    pub(super) delete_horizon: i64,
}

/// The checkpointed first dirty offset, reset to the log start when it is outside the log
/// (retention moved the start past it, or the log was truncated below it), as Kafka does.
pub(super) fn first_dirty_offset(log: &Log) -> Result<i64, StorageError> {
    let stored = checkpoint::read(log.dir())?;
    Ok(clamp_first_dirty(log, stored))
}

fn clamp_first_dirty(log: &Log, stored: Option<CleanerCheckpoint>) -> i64 {
    let start = log.log_start_offset();
    match stored {
        Some(c) if c.first_dirty >= start && c.first_dirty <= log.log_end_offset() => c.first_dirty,
        _ => start,
    }
}

impl DirtySection {
    pub(super) fn of(log: &Log, config: &LogConfig, now_ms: i64) -> Result<Self, StorageError> {
        let (sealed, active_base) = {
            let w = log.writer.lock();
            let sealed: Vec<SealedSegment> = w.sealed.values().cloned().collect();
            (sealed, w.active.base_offset())
        };
        let stored = checkpoint::read(log.dir())?;
        let log_start = log.log_start_offset();
        let first_dirty = clamp_first_dirty(log, stored).min(active_base.max(log_start));
        let mut first_uncleanable = active_base;
        if config.min_compaction_lag_ms > 0 {
            let newest_allowed = now_ms.saturating_sub(config.min_compaction_lag_ms);
            if let Some(young) = sealed.iter().find(|s| {
                s.files().next_offset() > first_dirty
                    && s.files().max_timestamp().timestamp > newest_allowed
            }) {
                first_uncleanable = first_uncleanable.min(young.base_offset());
            }
        }
        let first_uncleanable = first_uncleanable.max(first_dirty);
        let overlaps = |s: &SealedSegment, lo: i64, hi: i64| {
            s.base_offset() < hi && s.files().next_offset() > lo
        };
        let clean_bytes = sealed
            .iter()
            .filter(|s| overlaps(s, log_start, first_dirty))
            .map(SealedSegment::size)
            .sum();
        let dirty_bytes = sealed
            .iter()
            .filter(|s| overlaps(s, first_dirty, first_uncleanable))
            .map(SealedSegment::size)
            .sum();
        let first_dirty_timestamp = match sealed
            .iter()
            .find(|s| overlaps(s, first_dirty, first_uncleanable))
        {
            Some(s) => s
                .files()
                .find_batch(first_dirty)?
                .map(|(_, h)| h.max_timestamp),
            None => None,
        };
        Ok(DirtySection {
            sealed,
            first_dirty,
            first_uncleanable,
            clean_bytes,
            dirty_bytes,
            first_dirty_timestamp,
            delete_horizon: stored.map_or(-1, |c| c.delete_horizon),
        })
    }

    /// Dirty bytes over cleanable bytes (Kafka's `cleanableRatio`).
    pub(super) fn ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }

    /// `max.compaction.lag.ms` passed for the oldest dirty record, or a tombstone's delete
    /// horizon passed.
    pub(super) fn must_clean_now(&self, config: &LogConfig, now_ms: i64) -> bool {
        let lagging = self.dirty_bytes > 0
            && config.max_compaction_lag_ms != i64::MAX
            && self.first_dirty_timestamp.is_some_and(|ts| {
                ts > 0 && now_ms.saturating_sub(ts) > config.max_compaction_lag_ms
            });
        let horizon_passed = self.delete_horizon >= 0 && self.delete_horizon <= now_ms;
        lagging || horizon_passed
    }

    /// Whether a pass would be worth it: enough dirty bytes, or something must go now.
    pub(super) fn is_cleanable(&self, config: &LogConfig, now_ms: i64) -> bool {
        (self.dirty_bytes > 0 && self.ratio() > config.min_cleanable_dirty_ratio)
            || self.must_clean_now(config, now_ms)
    }
}
