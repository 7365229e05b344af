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
        let found = self.batch_ranges(offset, max_bytes, max_offset, min_one_batch)?;
        let mut slices = Vec::with_capacity(found.ranges.len());
        for r in found.ranges {
            r.segment.verify_range(r.position, r.end)?;
            slices.push(FileSlice {
                segment: r.segment,
                position: r.position,
                len: r.end - r.position,
            });
        }
        Ok(SliceRead {
            slices,
            bytes: found.bytes,
            next_offset: found.next_offset,
        })
    }
}
