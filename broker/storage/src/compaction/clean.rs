//! One cleaning pass: build the offset map from the dirty section, then rewrite groups of
//! sealed segments below the map's end, streaming each into `<base>.log.cleaned`.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checkpoint::{self, CleanerCheckpoint};
use super::dirty::DirtySection;
use super::encode::{delete_horizon, BatchWriter};
use super::offset_map::OffsetMap;
use super::throttle::Throttler;
use super::{swap, CompactionStats};
use crate::batch::BatchHeader;
use crate::config::LogConfig;
use crate::error::{BatchError, StorageError};
use crate::index::{OffsetIndex, TimeIndex};
use crate::log::Log;
use crate::segment::{Indexer, Indexes, SealedSegment, SegmentFiles};
use crate::validate::{decompressed_limit, RecordReader};
use crate::TimestampOffset;

pub(super) fn run(
    log: &Log,
    config: &LogConfig,
    dirty: &DirtySection,
    map: &mut OffsetMap,
    throttler: &mut Throttler,
    now_ms: i64,
    stop: &dyn Fn() -> bool,
) -> Result<CompactionStats, StorageError> {
    let limit = decompressed_limit(config.max_message_bytes);
    let mut stats = CompactionStats::default();
    let end = build_map(log, dirty, map, throttler, limit, &mut stats)?;
    stats.map_entries = map.len() as u64;
    let last_of_producer = log.writer.lock().producers.last_offsets();
    let mut pass = Pass {
        log,
        config,
        map,
        throttler,
        now_ms,
        limit,
        last_of_producer,
        min_horizon: None,
        stats,
    };
    for group in groups(&dirty.sealed, end, config.segment_bytes) {
        if stop() {
            return Ok(pass.stats);
        }
        pass.clean_group(&group, stop)?;
    }
    pass.stats.next_dirty_offset = end;
    checkpoint::write(
        log.dir(),
        CleanerCheckpoint {
            first_dirty: end,
            delete_horizon: pass.min_horizon.unwrap_or(-1),
        },
    )?;
    Ok(pass.stats)
}

/// Puts the keys of the dirty section into `map`; returns the end of what it covers (the
/// first offset not in the map): the first uncleanable offset, or where the map filled.
fn build_map(
    log: &Log,
    dirty: &DirtySection,
    map: &mut OffsetMap,
    throttler: &mut Throttler,
    limit: u64,
    stats: &mut CompactionStats,
) -> Result<i64, StorageError> {
    let (from, to) = (dirty.first_dirty, dirty.first_uncleanable);
    map.reset(records_in(dirty, from, to)?);
    for segment in &dirty.sealed {
        let files = segment.files();
        if files.next_offset() <= from || segment.base_offset() >= to {
            continue;
        }
        let len = files.len();
        let mut position = match files.find_batch(from)? {
            Some((p, _)) => p,
            None => continue,
        };
        while let Some(header) = files.header_at(position, len)? {
            if header.base_offset >= to {
                break;
            }
            let batch = files.read_bytes(position, header.size())?;
            throttler.maybe_throttle(batch.len() as u64);
            stats.map_bytes_read += batch.len() as u64;
            check_crc(files, position, &batch)?;
            position += header.size() as u64;
            if header.is_control() {
                continue;
            }
            let mut reader = match RecordReader::new(&header, &batch, limit) {
                Ok(r) => r,
                Err(e) => {
                    skip_warning(log, files, &header, &e);
                    continue;
                }
            };
            loop {
                let record = match reader.next_record() {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(e) => {
                        skip_warning(log, files, &header, &e);
                        break;
                    }
                };
                let offset = header.base_offset + i64::from(record.offset_delta);
                if offset < from || offset >= to {
                    continue;
                }
                if let Some(key) = record.key {
                    if !map.put(key, offset) {
                        stats.map_full = true;
                        return Ok(offset);
                    }
                }
            }
        }
    }
    Ok(to)
}

/// Records the batch headers of the dirty section announce: sizes the offset map, so a small
/// section does not pay for the whole buffer. Headers only (61 bytes a batch); a count that
/// lies only makes the map as large as its configured bound.
fn records_in(dirty: &DirtySection, from: i64, to: i64) -> Result<u64, StorageError> {
    let mut total = 0u64;
    for segment in &dirty.sealed {
        let files = segment.files();
        if files.next_offset() <= from || segment.base_offset() >= to {
            continue;
        }
        let len = files.len();
        let mut position = 0u64;
        while let Some(header) = files.header_at(position, len)? {
            if header.base_offset >= to {
                break;
            }
            if header.last_offset() >= from {
                total = total.saturating_add(header.record_count.max(0) as u64);
            }
            position += header.size() as u64;
        }
    }
    Ok(total)
}

/// A batch whose CRC fails stops the pass: copied into a cleaned segment (which counts as
/// checked) it would be served silently. The log is left as it is, the scrubber and reads
/// report the batch, and the cleaner thread leaves the log alone for a while (Kafka marks such
/// a partition uncleanable).
fn check_crc(files: &SegmentFiles, position: u64, batch: &[u8]) -> Result<(), StorageError> {
    crate::batch::validate(batch)
        .map(drop)
        .map_err(|e| StorageError::CorruptBatch {
            path: files.log_path().to_path_buf(),
            position,
            reason: e.to_string(),
        })
}

fn skip_warning(log: &Log, files: &SegmentFiles, header: &BatchHeader, e: &BatchError) {
    tracing::warn!(
        dir = %log.dir().display(),
        file = %files.log_path().display(),
        offset = header.base_offset,
        error = %e,
        "the cleaner keeps an undecodable batch as it is"
    );
}

/// Consecutive sealed segments starting below `end`, each group small enough to be one
/// segment (`segment.bytes`, offsets relative to its base within an i32), as Kafka groups them.
fn groups(sealed: &[SealedSegment], end: i64, segment_bytes: u64) -> Vec<Vec<SealedSegment>> {
    let mut out: Vec<Vec<SealedSegment>> = Vec::new();
    let mut size = 0u64;
    for s in sealed.iter().filter(|s| s.base_offset() < end) {
        let fits = out.last().is_some_and(|g| {
            let base = g[0].base_offset();
            size + s.size() <= segment_bytes
                && s.files().next_offset() - 1 - base <= i64::from(i32::MAX)
        });
        if fits {
            size += s.size();
            if let Some(g) = out.last_mut() {
                g.push(s.clone());
            }
        } else {
            size = s.size();
            out.push(vec![s.clone()]);
        }
    }
    out
}

/// What to do with one batch.
enum Verdict {
    /// Copy it as it is.
    Keep,
    /// Leave it out.
    Drop,
    /// Write these bytes instead.
    Rewrite(Vec<u8>),
}

struct Pass<'a> {
    log: &'a Log,
    config: &'a LogConfig,
    map: &'a OffsetMap,
    throttler: &'a mut Throttler,
    now_ms: i64,
    limit: u64,
    last_of_producer: HashMap<i64, i64>,
    /// Earliest delete horizon of a batch that still holds tombstones after this pass.
    min_horizon: Option<i64>,
    stats: CompactionStats,
}

impl Pass<'_> {
    fn clean_group(
        &mut self,
        group: &[SealedSegment],
        stop: &dyn Fn() -> bool,
    ) -> Result<(), StorageError> {
        let base = group[0].base_offset();
        let mut out = Output::new(self.log.dir(), base, self.config);
        let mut removed = 0u64;
        let result = (|| {
            for segment in group {
                let files = segment.files();
                let len = files.len();
                let mut position = 0u64;
                while let Some(header) = files.header_at(position, len)? {
                    if stop() {
                        return Ok(false);
                    }
                    let batch = files.read_bytes(position, header.size())?;
                    self.throttler.maybe_throttle(batch.len() as u64);
                    self.stats.clean_bytes_read += batch.len() as u64;
                    check_crc(files, position, &batch)?;
                    let (verdict, dropped) = self.judge(files, &header, &batch)?;
                    removed += dropped;
                    match verdict {
                        Verdict::Keep => {
                            out.keep(files, position, &header, &batch, self.throttler)?
                        }
                        Verdict::Drop => out.open(self.throttler)?,
                        Verdict::Rewrite(bytes) => out.write_new(&bytes, self.throttler)?,
                    }
                    position += header.size() as u64;
                }
            }
            Ok(true)
        })();
        match result {
            Ok(true) => {}
            Ok(false) => {
                out.abandon();
                return Ok(());
            }
            Err(e) => {
                out.abandon();
                return Err(e);
            }
        }
        let Some(cleaned) = out.finish()? else {
            return Ok(()); // nothing changed: no write, no swap
        };
        let before: u64 = group.iter().map(SealedSegment::size).sum();
        let after = cleaned.len;
        if swap::install(self.log, group, &cleaned)? {
            self.stats.segments_rewritten += 1;
            self.stats.segments_replaced += group.len();
            self.stats.records_removed += removed;
            self.stats.bytes_before += before;
            self.stats.bytes_after += after;
        }
        Ok(())
    }

    /// Decides a batch's fate and how many of its records go.
    fn judge(
        &mut self,
        files: &SegmentFiles,
        header: &BatchHeader,
        batch: &[u8],
    ) -> Result<(Verdict, u64), StorageError> {
        // Transactions are refused at produce; should such batches exist they stay whole.
        if header.is_control() || header.is_transactional() {
            return Ok((Verdict::Keep, 0));
        }
        let existing = delete_horizon(header);
        // First look: what stays, without holding any record.
        let (total, kept, tombstones) = match self.count(header, batch, existing) {
            Ok(c) => c,
            Err(e) => {
                skip_warning(self.log, files, header, &e);
                return Ok((Verdict::Keep, 0));
            }
        };
        let horizon = match (existing, tombstones > 0) {
            (Some(h), _) => Some(h),
            (None, true) => Some(self.now_ms.saturating_add(self.config.delete_retention_ms)),
            (None, false) => None,
        };
        if tombstones > 0 {
            if let Some(h) = horizon {
                self.min_horizon = Some(self.min_horizon.map_or(h, |m| m.min(h)));
            }
        }
        let dropped = total - kept;
        if dropped == 0 && horizon == existing {
            return Ok((Verdict::Keep, 0));
        }
        let last_of_producer = header.producer_id >= 0
            && self.last_of_producer.get(&header.producer_id) == Some(&header.last_offset());
        if kept == 0 && !last_of_producer {
            return Ok((Verdict::Drop, dropped));
        }
        // Second look: the same decisions, writing the kept records.
        let mut writer = BatchWriter::new(header, batch, horizon).map_err(|e| decode(header, e))?;
        let mut reader =
            RecordReader::new(header, batch, self.limit).map_err(|e| decode(header, e))?;
        while let Some(r) = reader.next_record().map_err(|e| decode(header, e))? {
            let offset = header.base_offset + i64::from(r.offset_delta);
            if self.retain(offset, r.key, r.value.is_none(), existing) {
                writer.push(&r).map_err(|e| decode(header, e))?;
            }
        }
        let bytes = writer.finish().map_err(|e| decode(header, e))?;
        Ok((Verdict::Rewrite(bytes), dropped))
    }

    /// (records, records kept, tombstones kept) of a batch.
    fn count(
        &self,
        header: &BatchHeader,
        batch: &[u8],
        existing: Option<i64>,
    ) -> Result<(u64, u64, u64), BatchError> {
        let mut reader = RecordReader::new(header, batch, self.limit)?;
        let (mut total, mut kept, mut tombstones) = (0, 0, 0);
        while let Some(r) = reader.next_record()? {
            total += 1;
            let offset = header.base_offset + i64::from(r.offset_delta);
            if self.retain(offset, r.key, r.value.is_none(), existing) {
                kept += 1;
                if r.value.is_none() {
                    tombstones += 1;
                }
            }
        }
        Ok((total, kept, tombstones))
    }

    /// Kafka's rule: a record stays if no later record of its key is in the map, and a
    /// tombstone also until its batch's delete horizon. Keyless records are invalid in a
    /// compacted log and go, as Kafka's cleaner drops them.
    fn retain(
        &self,
        offset: i64,
        key: Option<&[u8]>,
        tombstone: bool,
        horizon: Option<i64>,
    ) -> bool {
        let Some(key) = key else {
            return false;
        };
        if self.map.get(key).is_some_and(|latest| offset < latest) {
            return false;
        }
        !(tombstone && horizon.is_some_and(|h| self.now_ms >= h))
    }
}

fn decode(header: &BatchHeader, e: BatchError) -> StorageError {
    StorageError::Decode {
        offset: header.base_offset,
        reason: e.to_string(),
    }
}

/// The cleaned segment of a group, written and fsynced, under its `.cleaned` names.
pub(super) struct Cleaned {
    pub(super) base: i64,
    pub(super) len: u64,
    pub(super) next_offset: i64,
    pub(super) max_timestamp: TimestampOffset,
}

/// `<dir>/<base, 20 digits>.<ext>.cleaned`.
pub(super) fn cleaned_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}.cleaned"))
}

struct OpenOutput {
    log: BufWriter<File>,
    indexes: Indexes,
    indexer: Indexer,
    position: u64,
    next_offset: i64,
}

/// The output of a group, opened only once something changes: until then unchanged batches
/// are remembered as byte ranges of their segments (copied when the file opens), so a group
/// that loses nothing costs reads only.
struct Output<'a> {
    dir: &'a Path,
    base: i64,
    index_interval: u64,
    index_bytes: u64,
    open: Option<OpenOutput>,
    pending: Vec<(Arc<SegmentFiles>, u64, u64)>,
}

impl<'a> Output<'a> {
    fn new(dir: &'a Path, base: i64, config: &LogConfig) -> Self {
        Output {
            dir,
            base,
            index_interval: config.index_interval_bytes,
            index_bytes: config.segment_index_bytes,
            open: None,
            pending: Vec::new(),
        }
    }

    fn keep(
        &mut self,
        files: &Arc<SegmentFiles>,
        position: u64,
        header: &BatchHeader,
        batch: &[u8],
        throttler: &mut Throttler,
    ) -> Result<(), StorageError> {
        if let Some(open) = &mut self.open {
            throttler.maybe_throttle(batch.len() as u64);
            return append(open, batch, header, self.index_interval);
        }
        let end = position + header.size() as u64;
        match self.pending.last_mut() {
            Some((f, _, e)) if Arc::ptr_eq(f, files) && *e == position => *e = end,
            _ => self.pending.push((files.clone(), position, end)),
        }
        Ok(())
    }

    fn write_new(&mut self, bytes: &[u8], throttler: &mut Throttler) -> Result<(), StorageError> {
        self.open(throttler)?;
        let header = BatchHeader::parse(bytes).map_err(|e| StorageError::Decode {
            offset: self.base,
            reason: e.to_string(),
        })?;
        throttler.maybe_throttle(bytes.len() as u64);
        match &mut self.open {
            Some(open) => append(open, bytes, &header, self.index_interval),
            None => Ok(()),
        }
    }

    /// Creates the files and copies the unchanged batches seen so far.
    fn open(&mut self, throttler: &mut Throttler) -> Result<(), StorageError> {
        if self.open.is_some() {
            return Ok(());
        }
        let path = cleaned_path(self.dir, self.base, "log");
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(StorageError::io("create cleaned segment", &path))?;
        let mut indexes = Indexes {
            offset: OffsetIndex::open(&cleaned_path(self.dir, self.base, "index"), self.base)?,
            time: TimeIndex::open(&cleaned_path(self.dir, self.base, "timeindex"), self.base)?,
        };
        indexes.offset.file().preallocate(self.index_bytes)?;
        indexes.time.file().preallocate(self.index_bytes)?;
        let mut open = OpenOutput {
            log: BufWriter::with_capacity(1 << 20, file),
            indexes,
            indexer: Indexer::new(TimestampOffset::NONE),
            position: 0,
            next_offset: self.base,
        };
        for (files, start, end) in std::mem::take(&mut self.pending) {
            let mut position = start;
            while let Some(header) = files.header_at(position, end)? {
                let batch = files.read_bytes(position, header.size())?;
                // Read again and written: counted twice, as Kafka's throttler counts both.
                throttler.maybe_throttle(2 * batch.len() as u64);
                append(&mut open, &batch, &header, self.index_interval)?;
                position += header.size() as u64;
            }
        }
        self.open = Some(open);
        Ok(())
    }

    /// The written segment, fsynced with its trimmed indexes; `None` if nothing changed.
    fn finish(self) -> Result<Option<Cleaned>, StorageError> {
        let Some(mut open) = self.open else {
            return Ok(None);
        };
        let path = cleaned_path(self.dir, self.base, "log");
        let file = open
            .log
            .into_inner()
            .map_err(|e| StorageError::io("write cleaned segment", &path)(e.into_error()))?;
        crate::checkpoint::count_fsync();
        file.sync_all()
            .map_err(StorageError::io("fsync cleaned segment", &path))?;
        open.indexes.offset.file().trim()?;
        open.indexes.time.file().trim()?;
        open.indexes.offset.flush()?;
        open.indexes.time.flush()?;
        Ok(Some(Cleaned {
            base: self.base,
            len: open.position,
            next_offset: open.next_offset,
            max_timestamp: open.indexer.max,
        }))
    }

    /// Removes whatever was written.
    fn abandon(self) {
        drop(self.open);
        for ext in ["log", "index", "timeindex"] {
            let _ = fs::remove_file(cleaned_path(self.dir, self.base, ext));
        }
    }
}

fn append(
    open: &mut OpenOutput,
    batch: &[u8],
    header: &BatchHeader,
    interval: u64,
) -> Result<(), StorageError> {
    for file in [open.indexes.offset.file(), open.indexes.time.file()] {
        if file.is_full() {
            file.grow()?;
        }
    }
    open.indexer
        .add(&mut open.indexes, interval, open.position, header);
    open.log
        .write_all(batch)
        .map_err(StorageError::io("write cleaned segment", Path::new("")))?;
    open.position += batch.len() as u64;
    open.next_offset = header.last_offset() + 1;
    Ok(())
}
