//! `cleanup.policy=compact`: rewrite sealed segments keeping, per key, only the record with the
//! highest offset among sealed segments. Offsets are preserved; a batch keeps its header (base
//! offset, last offset delta, producer id/epoch/sequence) and loses records, so idempotent
//! producer state still replays correctly; a batch of an idempotent producer that loses every
//! record stays as an empty batch, as in Kafka. Tombstones (null values) are kept; keyless
//! records are kept.
//!
//! Files: the rewrite goes to `<base>.log.cleaned` and is renamed over `<base>.log`; the
//! segment's indexes are deleted and rebuilt. A crash at any point leaves either the old or the
//! new `.log` (a leftover `.cleaned` is removed at open) and missing indexes are rebuilt at open.
//! Readers that hold the old segment keep reading the old file through their descriptor.

use std::collections::HashMap;
use std::fs;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

use crate::batch::{BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use crate::error::StorageError;
use crate::log::Log;
use crate::records::split_records;
use crate::recovery::rebuild_segment;
use crate::segment::{SealedSegment, SegmentFiles};
use crate::validate::codec::decompress_all;
use crate::validate::decompressed_limit;

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionStats {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

type KeyMap = HashMap<Vec<u8>, i64>;

impl Log {
    /// One compaction pass over the sealed segments (no-op unless `cleanup.policy` includes
    /// compact). Appends and reads continue meanwhile; only the final swap of each segment takes
    /// the append lock. Passes are serialised with each other.
    pub fn compact(&self) -> Result<CompactionStats, StorageError> {
        if !self.config().compacts() {
            return Ok(CompactionStats::default());
        }
        let _pass = self.compaction.lock();
        let sealed: Vec<SealedSegment> = self.writer.lock().sealed.values().cloned().collect();
        let limit = decompressed_limit(self.config().max_message_bytes);
        let mut latest = KeyMap::new();
        for segment in &sealed {
            for_each_batch(segment.files(), |header, batch| {
                let Some(records) = records_or_skip(segment.files(), header, batch, limit) else {
                    return Ok(());
                };
                for r in records.iter() {
                    if let Some(key) = r.key {
                        latest.insert(key.to_vec(), header.base_offset + i64::from(r.offset_delta));
                    }
                }
                Ok(())
            })?;
        }
        let mut stats = CompactionStats::default();
        for segment in &sealed {
            let (cleaned, removed) = clean_segment(segment.files(), &latest, limit)?;
            if removed == 0 {
                continue;
            }
            stats.bytes_before += segment.size();
            stats.bytes_after += cleaned.len() as u64;
            if self.swap(segment, &cleaned)? {
                stats.segments_rewritten += 1;
                stats.records_removed += removed;
            }
        }
        Ok(stats)
    }

    /// Replaces a sealed segment's `.log` with `cleaned` unless retention deleted it meanwhile.
    fn swap(&self, old: &SealedSegment, cleaned: &[u8]) -> Result<bool, StorageError> {
        let mut w = self.writer.lock();
        let base = old.base_offset();
        match w.sealed.get(&base) {
            Some(current) if Arc::ptr_eq(current.files(), old.files()) => {}
            _ => return Ok(false),
        }
        let log_path = old.files().log_path().to_path_buf();
        let tmp = log_path.with_extension("log.cleaned");
        fs::write(&tmp, cleaned).map_err(StorageError::io("write cleaned segment", &tmp))?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(StorageError::io("fsync cleaned segment", &tmp))?;
        // New index files (new inodes): readers of the old segment keep their own mappings.
        for ext in ["index", "timeindex"] {
            let p = log_path.with_extension(ext);
            fs::remove_file(&p).map_err(StorageError::io("remove old index", &p))?;
        }
        // Readers holding the old segment must keep reading the old inode.
        old.files().pin()?;
        fs::rename(&tmp, &log_path)
            .map_err(StorageError::io("install cleaned segment", &log_path))?;
        crate::checkpoint::sync_dir(self.dir())?;
        let files = SegmentFiles::open(self.dir(), base, &self.cache)?;
        rebuild_segment(&files, self.config().index_interval_bytes, false)?;
        {
            let mut idx = files.indexes_mut();
            idx.offset.file().trim()?;
            idx.time.file().trim()?;
        }
        files.flush()?;
        let files = Arc::new(files);
        self.segments.write().insert(base, files.clone());
        w.sealed.insert(base, SealedSegment::from_files(files));
        Ok(true)
    }
}

/// Calls `f` with the header and bytes of every batch of a segment.
fn for_each_batch(
    files: &SegmentFiles,
    mut f: impl FnMut(&BatchHeader, Bytes) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let limit = files.len();
    let mut position = 0;
    while let Some(header) = files.header_at(position, limit)? {
        f(&header, files.read_bytes(position, header.size())?)?;
        position += header.size() as u64;
    }
    Ok(())
}

fn decode_error(header: &BatchHeader, reason: impl ToString) -> StorageError {
    StorageError::Decode {
        offset: header.base_offset,
        reason: reason.to_string(),
    }
}

/// The uncompressed records section of a batch, decompressed with a bound (`limit` bytes).
fn records_section(header: &BatchHeader, batch: Bytes, limit: u64) -> Result<Bytes, StorageError> {
    if header.compression() == 0 {
        return Ok(batch.slice(HEADER_LEN..));
    }
    let section = batch.get(HEADER_LEN..).unwrap_or_default();
    decompress_all(header.compression(), section, limit)
        .map(Bytes::from)
        .map_err(|e| decode_error(header, e))
}

/// The records of a batch, or `None` (with a log line naming the file and offset) for a batch
/// that does not decode: it is kept as it is and its keys take no part in compaction, rather
/// than one bad batch stopping every pass.
fn records_or_skip(
    files: &SegmentFiles,
    header: &BatchHeader,
    batch: Bytes,
    limit: u64,
) -> Option<Records> {
    match records_of(header, batch, limit) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(
                file = %files.log_path().display(),
                offset = header.base_offset,
                error = %e,
                "compaction skips an undecodable batch"
            );
            None
        }
    }
}

/// Section and the records inside it (borrowing the section).
struct Records {
    section: Bytes,
    count: usize,
}

impl Records {
    fn iter(&self) -> Vec<crate::records::RawRecord<'_>> {
        split_records(&self.section, self.count).unwrap_or_default()
    }
}

fn records_of(header: &BatchHeader, batch: Bytes, limit: u64) -> Result<Records, StorageError> {
    if header.is_control() {
        return Ok(Records {
            section: Bytes::new(),
            count: 0,
        });
    }
    let section = records_section(header, batch, limit)?;
    let count = usize::try_from(header.record_count).unwrap_or(0);
    if split_records(&section, count).is_none() {
        return Err(decode_error(
            header,
            "records do not match the record count",
        ));
    }
    Ok(Records { section, count })
}

fn compress(header: &BatchHeader, raw: &[u8]) -> Result<Vec<u8>, StorageError> {
    let mut out = Vec::new();
    let fill = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(raw);
        Ok(())
    };
    let done = match header.compression() {
        0 => {
            out.extend_from_slice(raw);
            Ok(())
        }
        1 => Gzip::compress(&mut out, fill),
        2 => Snappy::compress(&mut out, fill),
        3 => Lz4::compress(&mut out, fill),
        4 => Zstd::compress(&mut out, fill),
        other => return Err(decode_error(header, format!("unknown compression {other}"))),
    };
    done.map_err(|e| decode_error(header, e))?;
    Ok(out)
}

/// The segment's bytes with superseded records removed, and how many were removed.
fn clean_segment(
    files: &SegmentFiles,
    latest: &KeyMap,
    limit: u64,
) -> Result<(Vec<u8>, u64), StorageError> {
    let mut out = Vec::with_capacity(files.len() as usize);
    let mut removed = 0u64;
    for_each_batch(files, |header, batch| {
        let Some(records) = records_or_skip(files, header, batch.clone(), limit) else {
            out.extend_from_slice(&batch);
            return Ok(());
        };
        let all = records.iter();
        let kept: Vec<&[u8]> = all
            .iter()
            .filter(|r| match r.key {
                Some(k) => latest.get(k) == Some(&(header.base_offset + i64::from(r.offset_delta))),
                None => true,
            })
            .map(|r| r.bytes)
            .collect();
        if kept.len() == all.len() {
            out.extend_from_slice(&batch);
            return Ok(());
        }
        removed += (all.len() - kept.len()) as u64;
        if kept.is_empty() && header.producer_id < 0 {
            return Ok(());
        }
        let raw: Vec<u8> = kept.concat();
        let mut rebuilt = batch[..HEADER_LEN].to_vec();
        let attributes = if kept.is_empty() {
            header.attributes & !0x07 // an empty batch is stored uncompressed
        } else {
            header.attributes
        };
        let section = if kept.is_empty() {
            Vec::new()
        } else {
            compress(header, &raw)?
        };
        rebuilt.extend_from_slice(&section);
        let batch_length = (rebuilt.len() - LOG_OVERHEAD) as i32;
        rebuilt[8..12].copy_from_slice(&batch_length.to_be_bytes());
        rebuilt[21..23].copy_from_slice(&attributes.to_be_bytes());
        rebuilt[57..61].copy_from_slice(&(kept.len() as i32).to_be_bytes());
        let crc = crc32c::crc32c(&rebuilt[21..]);
        rebuilt[17..21].copy_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&rebuilt);
        Ok(())
    })?;
    Ok((out, removed))
}

#[cfg(test)]
mod tests;
