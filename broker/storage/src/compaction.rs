//! `cleanup.policy=compact`, as Kafka's log cleaner does it.
//!
//! - **Dirty section.** Each compacted partition keeps `cleaner-offset-checkpoint`: the first
//!   offset the cleaner has not yet seen (the *first dirty offset*, Kafka's meaning). Only
//!   records from there up to the first uncleanable offset (the active segment, or the first
//!   segment younger than `min.compaction.lag.ms`) feed the offset map.
//! - **Bounded offset map** ([`offset_map::OffsetMap`], Kafka's `SkimpyOffsetMap`): a fixed
//!   table of (128-bit key hash, latest offset), at most `log.cleaner.dedupe.buffer.size`
//!   bytes per cleaner thread. When the dirty section does not fit, the pass cleans up to the
//!   last offset that fit and the next pass resumes from there.
//! - **Cleaning** ([`clean`]) rewrites groups of sealed segments (never the active one) from
//!   the log start up to the end of the map's coverage, streaming batch by batch into
//!   `<base>.log.cleaned`. A batch that loses no record is copied byte for byte; otherwise it
//!   is re-encoded with its header kept (offsets, producer id/epoch/base sequence, flags,
//!   leader epoch). An idempotent producer's last batch stays, empty if need be, so its
//!   sequence state survives. A group in which nothing changes is not written at all.
//! - **Tombstones** follow KIP-534: the first pass that keeps a tombstone stamps its batch
//!   with a delete horizon (`now + delete.retention.ms`, in the base timestamp, attribute bit
//!   6); a pass after the horizon drops the tombstones. A log whose earliest horizon has
//!   passed is cleanable even with no dirty bytes.
//! - **Swap** ([`swap`]): Kafka's rename protocol `.cleaned` -> `.swap` -> live; the append
//!   lock is held only to swap the segment map (and to rename the swapped file into place),
//!   never while reading, writing or fsyncing. Open finishes an interrupted swap.
//! - **Threads** ([`thread`]): `log.cleaner.threads` dedicated std threads pick the dirtiest
//!   log first, rate-limited by `log.cleaner.io.max.bytes.per.second`.
//!
//! Decoding goes through the bounded [`crate::validate::RecordReader`]: a corrupt or bomb
//! batch is kept as it is (with a log line) and never costs more than the decompression
//! limit. Readers holding old segments keep reading their files (pinned descriptors).

mod checkpoint;
mod clean;
mod config;
mod dirty;
mod encode;
mod offset_map;
mod swap;
mod thread;
mod throttle;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cleaner;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use config::CleanerConfig;
pub(crate) use swap::recover_swaps;
pub use thread::{CleanerThreads, Clock as CleanerClock, LogSource};

pub(crate) use checkpoint::CLEANER_CHECKPOINT;

use crate::error::StorageError;
use crate::log::Log;
use offset_map::OffsetMap;
use throttle::Throttler;

/// What one cleaning pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionStats {
    /// Groups of segments replaced by a cleaned segment.
    pub segments_rewritten: usize,
    /// Sealed segments that went into those groups.
    pub segments_replaced: usize,
    pub records_removed: u64,
    /// Bytes of the groups before and after cleaning.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Bytes of the dirty section read to build the offset map.
    pub map_bytes_read: u64,
    /// Bytes of segments read while cleaning (only groups below the map's end).
    pub clean_bytes_read: u64,
    /// Keys put in the offset map.
    pub map_entries: u64,
    /// The first dirty offset written to the checkpoint after the pass.
    pub next_dirty_offset: i64,
    /// The offset map filled before the dirty section ended: the next pass continues.
    pub map_full: bool,
}

/// A cleaner: its offset map (allocated once, bounded) and I/O throttle. One per thread.
pub struct Cleaner {
    config: CleanerConfig,
    map: OffsetMap,
    throttler: Throttler,
    /// Set to abandon a pass between batches (shutdown).
    stop: Arc<AtomicBool>,
}

impl Cleaner {
    /// A cleaner with `config.dedupe_buffer_size / config.threads` bytes of offset map.
    pub fn new(config: CleanerConfig) -> Cleaner {
        let per_thread = config.dedupe_buffer_size / config.threads.max(1) as u64;
        Cleaner {
            map: OffsetMap::new(per_thread, config.io_buffer_load_factor),
            throttler: Throttler::new(config.io_max_bytes_per_second),
            config,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A flag that, once set, makes a running pass stop at the next batch, leaving the log as
    /// it was before the group it was cleaning.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    pub fn config(&self) -> &CleanerConfig {
        &self.config
    }

    /// Cleans `log` now if it is cleanable (dirty ratio, `max.compaction.lag.ms`, or a delete
    /// horizon that has passed); `force` ignores the ratio (a log with nothing dirty and no
    /// horizon passed is still left alone: cleaning it could change nothing). `now_ms` is the clock for lags and
    /// tombstone horizons. Another pass already running on the log makes this a no-op.
    pub fn clean(
        &mut self,
        log: &Log,
        now_ms: i64,
        force: bool,
    ) -> Result<CompactionStats, StorageError> {
        let Some(_pass) = log.compaction.try_lock() else {
            return Ok(CompactionStats::default());
        };
        let config = log.config();
        if !config.compacts() {
            return Ok(CompactionStats::default());
        }
        let dirty = dirty::DirtySection::of(log, &config, now_ms)?;
        let worth_it = match force {
            true => dirty.dirty_bytes > 0 || dirty.must_clean_now(&config, now_ms),
            false => dirty.is_cleanable(&config, now_ms),
        };
        if !worth_it {
            return Ok(CompactionStats::default());
        }
        let stop = self.stop.clone();
        clean::run(
            log,
            &config,
            &dirty,
            &mut self.map,
            &mut self.throttler,
            now_ms,
            &move || stop.load(Ordering::Acquire),
        )
    }

    /// The compacted log among `logs` that is cleanable and dirtiest (logs that must be
    /// cleaned now by `max.compaction.lag.ms` or an expired delete horizon first), or `None`.
    pub fn dirtiest<'a>(&self, logs: &[&'a Log], now_ms: i64) -> Option<&'a Log> {
        let mut best: Option<(bool, f64, &'a Log)> = None;
        for &log in logs {
            let config = log.config();
            if !config.compacts() || log.compaction.is_locked() {
                continue;
            }
            let Ok(dirty) = dirty::DirtySection::of(log, &config, now_ms) else {
                continue;
            };
            if !dirty.is_cleanable(&config, now_ms) {
                continue;
            }
            let urgent = dirty.must_clean_now(&config, now_ms);
            let key = (urgent, dirty.ratio());
            if best.is_none_or(|(u, r, _)| (key.0, key.1) > (u, r)) {
                best = Some((urgent, dirty.ratio(), log));
            }
        }
        best.map(|(_, _, log)| log)
    }
}

impl Log {
    /// One cleaning pass now, whatever the dirty ratio (the group coordinator compacts
    /// `__consumer_offsets` this way), with the default cleaner settings and no I/O limit.
    /// No-op unless `cleanup.policy` includes compact, or while another pass runs.
    pub fn compact(&self) -> Result<CompactionStats, StorageError> {
        self.compact_at(wall_clock_ms())
    }

    /// [`Log::compact`] with `now_ms` as the clock.
    pub fn compact_at(&self, now_ms: i64) -> Result<CompactionStats, StorageError> {
        Cleaner::new(CleanerConfig::default()).clean(self, now_ms, true)
    }

    /// The first offset the cleaner has not yet seen (`cleaner-offset-checkpoint`), clamped
    /// to the log as Kafka does.
    pub fn first_dirty_offset(&self) -> Result<i64, StorageError> {
        dirty::first_dirty_offset(self)
    }
}

pub(crate) fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
