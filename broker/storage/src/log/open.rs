//! Opening a log: listing segments, recovery after a crash, index checks, producer state.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{Log, Writer};
use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::StorageError;
use crate::file_cache::FileCache;
use crate::leader_epoch::{self, LeaderEpochCache};
use crate::producer_state::{snapshot, ProducerStates};
use crate::recovery::{check_segment, rebuild_segment};
use crate::segment::{ActiveSegment, SealedSegment, SegmentFiles};

/// Leftovers of interrupted operations, safe to delete.
const TEMP_SUFFIXES: [&str; 4] = [".tmp", ".cleaned", ".swap", ".deleted"];

impl Log {
    /// Opens (creating if needed) the log in `dir`. Without a clean-shutdown marker, every
    /// segment from the one holding the recovery point on is re-validated batch by batch (CRC
    /// included), a torn or corrupt tail is cut at the last valid batch and later segments are
    /// dropped, and their indexes are rebuilt. Every other segment's indexes are checked and
    /// rebuilt if inconsistent.
    ///
    /// Sealed segments' descriptors come from the process-wide [`FileCache::global`].
    pub fn open(dir: &Path, config: LogConfig) -> Result<Log, StorageError> {
        Self::open_with_cache(dir, config, FileCache::global())
    }

    /// [`Log::open`] with sealed segments' descriptors taken from `cache`.
    pub fn open_with_cache(
        dir: &Path,
        config: LogConfig,
        cache: &Arc<FileCache>,
    ) -> Result<Log, StorageError> {
        config.validate()?;
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(StorageError::io("create log dir", dir))?;
            if let Some(parent) = dir.parent() {
                checkpoint::sync_dir(parent)?;
            }
        }
        crate::compaction::recover_swaps(dir)?;
        let bases = list_segments(dir)?;
        let clean = checkpoint::take_clean_marker(dir)?;
        let recovery_point = checkpoint::read_offset(dir, checkpoint::RECOVERY_POINT)?.unwrap_or(0);
        let recover_from = bases
            .iter()
            .copied()
            .filter(|b| *b <= recovery_point)
            .max()
            .unwrap_or(i64::MIN);

        let mut segments: Vec<Arc<SegmentFiles>> = Vec::with_capacity(bases.len());
        for (i, &base) in bases.iter().enumerate() {
            let is_last = i + 1 == bases.len();
            let files = SegmentFiles::open(dir, base, cache)?;
            if let Some(prev) = segments.last() {
                if base < prev.next_offset() {
                    return Err(StorageError::CorruptLog {
                        path: files.log_path().to_path_buf(),
                        reason: format!(
                            "segment overlaps the previous one, which ends at offset {}",
                            prev.next_offset() - 1
                        ),
                    });
                }
            }
            let rescan = !clean && (base >= recover_from || is_last);
            let rebuild = rescan || {
                let consistent = check_segment(&files)?;
                if !consistent {
                    tracing::warn!(
                        segment = %files.log_path().display(),
                        "inconsistent index or segment tail: re-validating the segment"
                    );
                }
                !consistent
            };
            let truncated = rebuild && recover_segment(&files, &config)?;
            segments.push(Arc::new(files));
            if truncated && !is_last {
                for &later in &bases[i + 1..] {
                    tracing::warn!(dir = %dir.display(), base = later, "deleting segment after a corrupt one");
                    SegmentFiles::open(dir, later, cache)?.delete()?;
                }
                break;
            }
        }
        let log = Self::assemble(
            dir,
            config,
            segments,
            clean.then_some(recovery_point),
            cache,
        )?;
        let producers = load_producers(&log)?;
        log.writer.lock().producers = producers;
        *log.epochs.write() = super::epochs::load_epochs(&log)?;
        Ok(log)
    }

    /// Builds the log from scanned segments: the last becomes active, the others sealed.
    fn assemble(
        dir: &Path,
        config: LogConfig,
        mut segments: Vec<Arc<SegmentFiles>>,
        clean_recovery_point: Option<i64>,
        cache: &Arc<FileCache>,
    ) -> Result<Log, StorageError> {
        let fresh = segments.is_empty();
        let stored_start = checkpoint::read_offset(dir, checkpoint::LOG_START)?;
        let active = match segments.pop() {
            Some(files) => ActiveSegment::resume(files, &config)?,
            None => ActiveSegment::create(dir, stored_start.unwrap_or(0).max(0), &config, cache)?,
        };
        let mut sealed = BTreeMap::new();
        for files in segments {
            {
                // A rebuild may have grown the indexes; sealed ones are kept trimmed.
                let mut idx = files.indexes_mut();
                idx.offset.file().trim()?;
                idx.time.file().trim()?;
            }
            files.unpin(); // a recovery that cut it pinned a writable descriptor
            sealed.insert(files.base_offset(), SealedSegment::from_files(files));
        }
        let log_end = active.files().next_offset();
        let first_base = sealed
            .keys()
            .next()
            .copied()
            .unwrap_or(active.base_offset());
        let log_start = stored_start
            .unwrap_or(first_base)
            .clamp(first_base, log_end.max(first_base));
        let mut map = BTreeMap::new();
        for (base, s) in &sealed {
            map.insert(*base, s.files().clone());
        }
        map.insert(active.base_offset(), active.files().clone());
        let recovery_point = match clean_recovery_point {
            Some(_) => log_end,
            // A new log: nothing to recover and nothing to make durable but its directory entry.
            None if fresh => log_end,
            None => {
                // Recovered data is now known good; make it durable so the work is not redone.
                for files in map.values() {
                    files.flush()?;
                }
                checkpoint::write_offset(dir, checkpoint::RECOVERY_POINT, log_end)?;
                log_end
            }
        };
        Ok(Log {
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            writer: Mutex::new(Writer {
                active,
                sealed,
                producers: ProducerStates::default(),
                recovery_point,
                unsynced: Vec::new(),
                dir_dirty: fresh,
                marker_removal_unsynced: clean_recovery_point.is_some(),
                unflushed_messages: 0,
                last_flush_ms: 0,
                last_now_ms: 0,
                buf: Vec::new(),
                last_producer_expiry_ms: 0,
            }),
            segments: RwLock::new(map),
            log_start: AtomicI64::new(log_start),
            log_end: AtomicI64::new(log_end),
            compaction: Mutex::new(()),
            cache: cache.clone(),
            sealer: Mutex::new(()),
            sync: Mutex::new(super::SyncState::new(recovery_point)),
            synced: parking_lot::Condvar::new(),
            checkpointer: Mutex::new(recovery_point),
            epochs: RwLock::new(LeaderEpochCache::default()),
        })
    }
}

/// Re-validates a whole segment; returns whether its tail was cut.
fn recover_segment(files: &SegmentFiles, config: &LogConfig) -> Result<bool, StorageError> {
    let outcome = rebuild_segment(files, config.index_interval_bytes, true)?;
    if let Some(problem) = &outcome.problem {
        tracing::warn!(
            segment = %files.log_path().display(),
            truncated_bytes = outcome.truncated_bytes,
            problem = %problem,
            "truncated corrupt or torn segment tail"
        );
    }
    Ok(outcome.problem.is_some())
}

/// Producer state at the log end: the newest snapshot at or below it that reads back intact,
/// plus the batch headers after it. Snapshots above the log end (a recovery or a truncation cut
/// the log below them) are deleted, and all but the newest few.
pub(super) fn load_producers(log: &Log) -> Result<ProducerStates, StorageError> {
    let end = log.log_end_offset();
    snapshot::prune(&log.dir, end)?;
    let mut from = None;
    for (offset, path) in snapshot::list(&log.dir)?.into_iter().rev() {
        if let Some(state) = snapshot::read(&path) {
            from = Some((offset, state));
            break;
        }
        // Torn by a crash (or damaged): an older snapshot or the log itself has the state.
        fs::remove_file(&path).map_err(StorageError::io("remove producer snapshot", &path))?;
    }
    let (from, mut producers) = from.unwrap_or((i64::MIN, ProducerStates::default()));
    let segments: Vec<Arc<SegmentFiles>> = log.segments.read().values().cloned().collect();
    for files in segments.iter().filter(|s| s.next_offset() > from) {
        replay_producers(files, from, &mut producers)?;
    }
    Ok(producers)
}

/// Replays into `producers` the headers of the batches of `files` holding offsets `>= from`.
pub(super) fn replay_producers(
    files: &SegmentFiles,
    from: i64,
    producers: &mut ProducerStates,
) -> Result<(), StorageError> {
    let limit = files.len();
    let mut position = match files.find_batch(from)? {
        Some((position, _)) => position,
        None => return Ok(()),
    };
    while let Some(header) = files.header_at(position, limit)? {
        if header.base_offset >= from {
            producers.replay(&header);
        }
        position += header.size() as u64;
    }
    Ok(())
}

/// Base offsets of the `.log` files in `dir`, sorted. Removes
/// leftovers of interrupted writes and index files without a log; ignores (with a warning)
/// anything else it does not know.
fn list_segments(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).map_err(StorageError::io("list log dir", dir))? {
        let entry = entry.map_err(StorageError::io("list log dir", dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if TEMP_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            tracing::warn!(file = %path.display(), "removing leftover temporary file");
            fs::remove_file(&path).map_err(StorageError::io("remove leftover", &path))?;
            continue;
        }
        if [
            checkpoint::RECOVERY_POINT,
            checkpoint::LOG_START,
            checkpoint::CLEAN_SHUTDOWN,
            crate::compaction::CLEANER_CHECKPOINT,
            leader_epoch::FILE,
        ]
        .contains(&name.as_str())
        {
            continue;
        }
        let parsed = name
            .split_once('.')
            .filter(|(stem, _)| stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|(stem, ext)| stem.parse::<i64>().ok().map(|base| (base, ext)));
        match parsed {
            Some((base, "log")) => logs.push(base),
            Some((base, "index" | "timeindex")) => indexes.push((base, path)),
            Some((_, "snapshot")) => {} // see load_producers
            _ => tracing::warn!(file = %path.display(), "ignoring unknown file in log dir"),
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            tracing::warn!(file = %path.display(), "removing index without a segment");
            fs::remove_file(&path).map_err(StorageError::io("remove orphan index", &path))?;
        }
    }
    Ok(logs)
}
