//! `Log::read_slices`: where a fetch's batches lie, so they can be streamed from the files
//! instead of copied into one response buffer.

use std::sync::Arc;

use bytes::Bytes;

use super::Log;
use crate::error::StorageError;
use crate::segment::SegmentFiles;

/// A byte range of one segment's `.log`: whole batches, already CRC-checked where this process
/// had not checked them before. Holding it keeps the segment readable (a retention delete or a
/// compaction swap leaves the old inode to its readers).
#[derive(Clone)]
pub struct FileSlice {
    segment: Arc<SegmentFiles>,
    position: u64,
    len: u64,
}

impl FileSlice {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads `len` bytes at `offset` into the slice (clamped to its end). Fewer bytes on disk
    /// than the slice promised (the segment was truncated meanwhile) is an error: the caller
    /// has already told its reader how many bytes follow.
    pub fn read(&self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        let len = (len as u64).min(self.len.saturating_sub(offset)) as usize;
        let bytes = self.segment.read_bytes(self.position + offset, len)?;
        if bytes.len() < len {
            return Err(StorageError::CorruptLog {
                path: self.segment.log_path().to_path_buf(),
                reason: format!(
                    "truncated while being served: {} of {len} bytes at position {}",
                    bytes.len(),
                    self.position + offset
                ),
            });
        }
        Ok(bytes)
    }
}

/// The outcome of [`Log::read_slices`].
pub struct SliceRead {
    /// The batches, in offset order, possibly spanning segments.
    pub slices: Vec<FileSlice>,
    /// Total bytes of `slices`.
    pub bytes: usize,
    /// The offset after the last batch, if any batch was found.
    pub next_offset: Option<i64>,
}

impl Log {
    /// [`Log::read`] without reading the data: the same batches, as file ranges. Bytes this
    /// process has not CRC-checked yet are checked here (one batch in memory at a time), so a
    /// corrupt batch fails the read as it does in [`Log::read`].
    pub fn read_slices(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<SliceRead, StorageError> {
        let log_end_offset = self.log_end_offset();
        let log_start_offset = self.log_start_offset();
        let mut out = SliceRead {
            slices: Vec::new(),
            bytes: 0,
            next_offset: None,
        };
        if offset < log_start_offset || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        if offset == log_end_offset || offset >= max_offset {
            return Ok(out);
        }
        let Some(mut segment) = self.segment_for(offset) else {
            return Ok(out);
        };
        let mut position = match segment.find_batch(offset)? {
            Some((position, _)) => position,
            None => segment.len(),
        };
        loop {
            let limit = segment.len();
            let mut end = position;
            let mut stop = false;
            while let Some(h) = segment.header_at(end, limit)? {
                let first = out.bytes == 0;
                if h.last_offset() >= max_offset
                    || (out.bytes + h.size() > max_bytes && !(first && min_one_batch))
                {
                    stop = true;
                    break;
                }
                out.bytes += h.size();
                out.next_offset = Some(h.last_offset() + 1);
                end += h.size() as u64;
            }
            if end > position {
                segment.verify_range(position, end)?;
                out.slices.push(FileSlice {
                    segment: segment.clone(),
                    position,
                    len: end - position,
                });
            }
            if stop {
                break;
            }
            match self.segment_after(segment.base_offset()) {
                Some(next) => {
                    segment = next;
                    position = 0;
                }
                None => break,
            }
        }
        Ok(out)
    }
}
