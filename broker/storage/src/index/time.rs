//! `.timeindex`: sparse time index.
//!
//! Format: 12-byte entries, `timestamp i64 | relativeOffset i32` big-endian, as Kafka writes
//! them: each entry is (largest timestamp so far in the segment, last offset of the batch that
//! holds it), appended only when the timestamp grows. Every record at or before the entry's
//! offset therefore has a timestamp `<=` the entry's.
//! Thread-safety: not synchronised; the segment holds it behind an `RwLock`.

use std::path::Path;

use super::{be_i32, be_i64, IndexFile};
use crate::error::StorageError;

const ENTRY: usize = 12;

pub(crate) struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
}

impl TimeIndex {
    pub(crate) fn open(path: &Path, base_offset: i64) -> Result<TimeIndex, StorageError> {
        Ok(TimeIndex {
            base_offset,
            file: IndexFile::open(path, ENTRY)?,
        })
    }

    /// Entry `i` as (timestamp, absolute offset).
    pub(crate) fn entry(&self, i: usize) -> (i64, i64) {
        let e = self.file.entry(i);
        (be_i64(e), self.base_offset + i64::from(be_i32(&e[8..])))
    }

    pub(crate) fn len(&self) -> usize {
        self.file.len()
    }

    pub(crate) fn last(&self) -> Option<(i64, i64)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// The last entry with a timestamp strictly below `ts`: no record at or before its offset
    /// can have a timestamp `>= ts`, so a search for `ts` may start after it.
    pub(crate) fn lookup_before(&self, ts: i64) -> Option<(i64, i64)> {
        self.file.floor(&ts, true, be_i64).map(|i| self.entry(i))
    }

    /// Appends (timestamp, offset) if the timestamp is larger than the last entry's.
    /// Returns false if the index is full.
    pub(crate) fn maybe_append(&mut self, ts: i64, offset: i64) -> bool {
        if let Some((last_ts, last_offset)) = self.last() {
            if ts <= last_ts || offset < last_offset {
                return true;
            }
        }
        let mut e = [0u8; ENTRY];
        e[..8].copy_from_slice(&ts.to_be_bytes());
        e[8..].copy_from_slice(&((offset - self.base_offset) as i32).to_be_bytes());
        self.file.push(&e)
    }

    pub(crate) fn clear(&mut self) {
        self.file.truncate(0);
    }

    pub(crate) fn is_full(&self) -> bool {
        self.file.is_full()
    }

    pub(crate) fn file(&mut self) -> &mut IndexFile {
        &mut self.file
    }

    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_before_finds_the_last_entry_strictly_older() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TimeIndex::open(&dir.path().join("x.timeindex"), 50).unwrap();
        idx.file().preallocate(120).unwrap();
        assert!(idx.maybe_append(1000, 52));
        assert!(idx.maybe_append(900, 60)); // not larger: skipped
        assert!(idx.maybe_append(2000, 70));
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.lookup_before(1000), None);
        assert_eq!(idx.lookup_before(1001), Some((1000, 52)));
        assert_eq!(idx.lookup_before(5000), Some((2000, 70)));
    }
}
