//! A sealed segment: read-only, indexes trimmed.

use std::sync::Arc;

use super::SegmentFiles;
use crate::error::StorageError;

/// A segment that no longer takes appends. Its files, trimmed indexes and summary (size, end
/// offset, largest timestamp) do not change until it is deleted.
///
/// Format: see [`SegmentFiles`]. Thread-safety: `Send + Sync`; cheap to clone (an `Arc`).
#[derive(Clone)]
pub(crate) struct SealedSegment {
    files: Arc<SegmentFiles>,
}

impl SealedSegment {
    /// Wraps files whose `len`, `next_offset` and max timestamp are already loaded and whose
    /// indexes are trimmed.
    pub(crate) fn from_files(files: Arc<SegmentFiles>) -> SealedSegment {
        SealedSegment { files }
    }

    pub(crate) fn files(&self) -> &Arc<SegmentFiles> {
        &self.files
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.files.base_offset()
    }

    pub(crate) fn size(&self) -> u64 {
        self.files.len()
    }

    /// Deletes the files; readers holding the segment keep reading.
    pub(crate) fn delete(self) -> Result<(), StorageError> {
        self.files.delete()
    }
}
