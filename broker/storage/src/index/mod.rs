//! Sparse indexes beside each segment: `.index` (offset -> file position) and `.timeindex`
//! (timestamp -> offset). Both are arrays of fixed-size big-endian entries in an mmap'd file,
//! preallocated to `segment.index.bytes` while the segment is active and trimmed to the entries
//! actually written when it is sealed or the log is closed cleanly.

mod offset;
mod time;

pub(crate) use offset::OffsetIndex;
pub(crate) use time::TimeIndex;

use std::path::Path;

use crate::error::StorageError;
use crate::mmap::MmapFile;

/// An array of `entry_size`-byte entries in a mapped file. The entry count is kept in memory:
/// on open it is the file length divided by the entry size, which is exact for trimmed files;
/// files left preallocated by a crash are caught by the segment's consistency check.
/// Not internally synchronised: the owning segment guards it with a lock.
pub(crate) struct IndexFile {
    mmap: MmapFile,
    entry_size: usize,
    entries: usize,
    /// Bytes from the start known to have disk blocks behind them (see [`IndexFile::push`]).
    backed: usize,
}

/// Granularity of [`MmapFile::allocate`] ahead of appends: one page, so a preallocated index
/// costs disk space only as it fills, as a sparse file did.
const BACKING_STEP: usize = 4096;

impl IndexFile {
    pub(crate) fn open(path: &Path, entry_size: usize) -> Result<IndexFile, StorageError> {
        let mmap = MmapFile::open(path, None)?;
        let entries = mmap.bytes().len() / entry_size;
        Ok(IndexFile {
            mmap,
            entry_size,
            entries,
            // Only the bytes holding entries are known to be written (the rest may be a hole).
            backed: entries * entry_size,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries >= self.mmap.bytes().len() / self.entry_size
    }

    pub(crate) fn entry(&self, i: usize) -> &[u8] {
        let at = i * self.entry_size;
        &self.mmap.bytes()[at..at + self.entry_size]
    }

    /// Entries the file has room for.
    pub(crate) fn capacity(&self) -> usize {
        self.mmap.bytes().len() / self.entry_size
    }

    /// Appends an entry; returns false when the preallocated space is used up.
    ///
    /// The first entry in a page of the preallocated (sparse) file gets the page's disk block
    /// first: on a full disk the entry is then skipped (an index is sparse: lookups scan from
    /// the entry before, and recovery rebuilds it) instead of the store faulting with SIGBUS.
    pub(crate) fn push(&mut self, entry: &[u8]) -> bool {
        if self.is_full() {
            return false;
        }
        let at = self.entries * self.entry_size;
        if at + self.entry_size > self.backed {
            let page = at / BACKING_STEP * BACKING_STEP;
            let end = (at + self.entry_size)
                .div_ceil(BACKING_STEP)
                .saturating_mul(BACKING_STEP)
                .min(self.mmap.bytes().len());
            if let Err(e) = self.mmap.allocate(page as u64, (end - page) as u64) {
                tracing::warn!(error = %e, "index entry skipped: no disk space for its page");
                return true;
            }
            self.backed = end;
        }
        self.mmap.bytes_mut()[at..at + self.entry_size].copy_from_slice(entry);
        self.entries += 1;
        true
    }

    /// Forgets entries from `n` on.
    pub(crate) fn truncate(&mut self, n: usize) {
        self.entries = self.entries.min(n);
    }

    /// Grows the file to `capacity_bytes` (rounded down to whole entries) for appending.
    pub(crate) fn preallocate(&mut self, capacity_bytes: u64) -> Result<(), StorageError> {
        let size = self.entry_size as u64;
        let capacity = (capacity_bytes / size * size).max(self.entries as u64 * size);
        self.resize(capacity)
    }

    /// Resizes the file; blocks past a shrink are gone, so `backed` shrinks with it.
    fn resize(&mut self, len: u64) -> Result<(), StorageError> {
        let result = self.mmap.resize(len);
        self.backed = self.backed.min(self.mmap.bytes().len());
        result
    }

    /// Doubles the room for entries (index rebuilds of segments written with a larger
    /// `segment.index.bytes`).
    pub(crate) fn grow(&mut self) -> Result<(), StorageError> {
        let entries = (self.capacity() as u64 * 2).max(512);
        self.resize(entries * self.entry_size as u64)
    }

    /// Shrinks the file to the entries written.
    pub(crate) fn trim(&mut self) -> Result<(), StorageError> {
        self.resize((self.entries * self.entry_size) as u64)
    }

    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        self.mmap.flush()
    }

    /// Index of the last entry whose key is `<= key` (`strict`: `< key`), by binary search over
    /// entries whose keys are non-decreasing.
    pub(crate) fn floor<K: Ord>(
        &self,
        key: &K,
        strict: bool,
        key_of: impl Fn(&[u8]) -> K,
    ) -> Option<usize> {
        // partition_point finds the first entry past the bound; the one before it is the floor.
        let (mut lo, mut hi) = (0, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let k = key_of(self.entry(mid));
            let below = if strict { k < *key } else { k <= *key };
            if below {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }
}

pub(crate) fn be_i32(b: &[u8]) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    i32::from_be_bytes(a)
}

pub(crate) fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}
