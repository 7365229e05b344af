//! Crash recovery of segments: re-validation of batches, truncation of a torn or corrupt tail,
//! index rebuild, and the consistency check run on every open.

use crate::batch::{self, BatchHeader};
use crate::error::StorageError;
use crate::segment::{Indexer, Indexes, SegmentFiles};
use crate::TimestampOffset;

/// What a full re-scan of a segment found.
pub(crate) struct Rebuilt {
    /// Bytes dropped from the end because they were not whole valid batches.
    pub(crate) truncated_bytes: u64,
    /// Why the scan stopped early, if it did.
    pub(crate) problem: Option<String>,
}

fn grow_if_full(idx: &mut Indexes) -> Result<(), StorageError> {
    // A rebuild may meet a segment written with a larger segment.index.bytes than today's.
    for file in [idx.offset.file(), idx.time.file()] {
        if file.is_full() {
            file.grow()?;
        }
    }
    Ok(())
}

/// Reads every batch of the segment from the start (with `validate_crc`, the whole batch and its
/// CRC; else headers only), checks offsets increase, rebuilds both indexes, and cuts the `.log`
/// at the first batch that fails. Publishes the resulting length, end offset and largest
/// timestamp. I/O errors are returned, never treated as corruption.
pub(crate) fn rebuild_segment(
    files: &SegmentFiles,
    index_interval: u64,
    validate_crc: bool,
) -> Result<Rebuilt, StorageError> {
    let file_len = std::fs::metadata(files.log_path())
        .map_err(StorageError::io("stat segment", files.log_path()))?
        .len();
    let mut idx = files.indexes_mut();
    idx.offset.clear();
    idx.time.clear();
    let mut indexer = Indexer::new(TimestampOffset::NONE);
    let mut position = 0u64;
    let mut next_offset = files.base_offset();
    let mut buf = Vec::new();
    let problem = loop {
        if position >= file_len {
            break None;
        }
        let header = match files.header_at(position, file_len) {
            Ok(Some(h)) => h,
            Ok(None) => break Some(format!("incomplete batch at position {position}")),
            Err(StorageError::CorruptLog { reason, .. }) => break Some(reason),
            Err(e) => return Err(e),
        };
        if let Some(why) = check_batch(
            files,
            &header,
            next_offset,
            validate_crc,
            position,
            &mut buf,
        )? {
            break Some(why);
        }
        grow_if_full(&mut idx)?;
        indexer.add(&mut idx, index_interval, position, &header);
        next_offset = header.last_offset() + 1;
        position += header.size() as u64;
    };
    drop(idx);
    if problem.is_some() {
        files.truncate_log(position)?;
    }
    if validate_crc {
        files.mark_verified();
    }
    files.publish(position, next_offset);
    files.set_max_timestamp(indexer.max);
    Ok(Rebuilt {
        truncated_bytes: file_len - position,
        problem,
    })
}

/// Why the batch at `position` is not acceptable in the log, if it is not.
fn check_batch(
    files: &SegmentFiles,
    header: &BatchHeader,
    next_offset: i64,
    validate_crc: bool,
    position: u64,
    buf: &mut Vec<u8>,
) -> Result<Option<String>, StorageError> {
    if header.magic != 2 {
        return Ok(Some(format!(
            "magic {} at position {position}",
            header.magic
        )));
    }
    if header.base_offset < next_offset || header.last_offset_delta < 0 {
        return Ok(Some(format!(
            "offsets {}..={} at position {position} do not follow {}",
            header.base_offset,
            header.last_offset(),
            next_offset - 1
        )));
    }
    if validate_crc {
        // Bounded by the file: header_at only returns batches that end inside it.
        buf.resize(header.size(), 0);
        files.read_at(buf, position)?;
        if let Err(e) = batch::validate(buf) {
            return Ok(Some(format!("batch at position {position}: {e}")));
        }
    }
    Ok(None)
}

/// Checks a segment that was not re-scanned: offset index entries strictly increasing and inside
/// the file, the last one pointing at a batch ending at its offset, time index entries
/// increasing; then scans headers after the last index entry to find the end offset and largest
/// timestamp. Returns false if anything does not hold; the caller then rebuilds the segment.
pub(crate) fn check_segment(files: &SegmentFiles) -> Result<bool, StorageError> {
    if files.indexes_missing() && files.len() > 0 {
        return Ok(false);
    }
    let file_len = files.len();
    let base = files.base_offset();
    let idx = files.indexes();
    let mut prev: Option<(i64, u64)> = None;
    for i in 0..idx.offset.len() {
        let (offset, position) = idx.offset.entry(i);
        let ordered = prev.is_none_or(|(o, p)| offset > o && position > p);
        if offset < base || position >= file_len || !ordered {
            return Ok(false);
        }
        prev = Some((offset, position));
    }
    let start = match prev {
        Some((offset, position)) => match files.header_at(position, file_len) {
            Ok(Some(h)) if h.last_offset() == offset => position,
            Ok(_) | Err(StorageError::CorruptLog { .. }) => return Ok(false),
            Err(e) => return Err(e),
        },
        None => 0,
    };
    let mut max = TimestampOffset::NONE;
    let mut prev_time: Option<(i64, i64)> = None;
    for i in 0..idx.time.len() {
        let (ts, offset) = idx.time.entry(i);
        let ordered = prev_time.is_none_or(|(t, o)| ts > t && offset >= o);
        if offset < base || !ordered {
            return Ok(false);
        }
        prev_time = Some((ts, offset));
        max = TimestampOffset {
            timestamp: ts,
            offset,
        };
    }
    drop(idx);
    let mut position = start;
    let mut next_offset = base;
    while position < file_len {
        match files.header_at(position, file_len) {
            Ok(Some(h)) if h.magic == 2 && h.base_offset >= next_offset => {
                if h.max_timestamp > max.timestamp {
                    max = TimestampOffset {
                        timestamp: h.max_timestamp,
                        offset: h.last_offset(),
                    };
                }
                next_offset = h.last_offset() + 1;
                position += h.size() as u64;
            }
            Ok(_) | Err(StorageError::CorruptLog { .. }) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    if prev_time.is_some_and(|(_, o)| o >= next_offset) {
        return Ok(false);
    }
    files.publish(file_len, next_offset);
    files.set_max_timestamp(max);
    Ok(true)
}

#[cfg(test)]
mod tests;
