//! `.index`: sparse offset index.
//!
//! Format: 8-byte entries, `relativeOffset i32 | position i32` big-endian, where
//! `relativeOffset = lastOffset - segmentBase` of a batch and `position` is that batch's byte
//! position in the `.log`, exactly as Kafka writes them. Entries are strictly increasing in both.
//! Thread-safety: not synchronised; the segment holds it behind an `RwLock`.

use std::path::Path;

use super::{be_i32, IndexFile};
use crate::error::StorageError;

const ENTRY: usize = 8;

pub(crate) struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
}

impl OffsetIndex {
    pub(crate) fn open(path: &Path, base_offset: i64) -> Result<OffsetIndex, StorageError> {
        Ok(OffsetIndex {
            base_offset,
            file: IndexFile::open(path, ENTRY)?,
        })
    }

    /// Entry `i` as (absolute offset, position).
    pub(crate) fn entry(&self, i: usize) -> (i64, u64) {
        let e = self.file.entry(i);
        (
            self.base_offset + i64::from(be_i32(e)),
            // Positions are written from u32; a negative read back is corruption, mapped high so
            // the consistency check rejects it.
            be_i32(&e[4..]) as u32 as u64,
        )
    }

    pub(crate) fn len(&self) -> usize {
        self.file.len()
    }

    pub(crate) fn last(&self) -> Option<(i64, u64)> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// The entry with the largest offset `<= offset`: scanning the log from its position finds
    /// the batch containing `offset`.
    pub(crate) fn lookup(&self, offset: i64) -> Option<(i64, u64)> {
        let base = self.base_offset;
        self.file
            .floor(&offset, false, |e| base + i64::from(be_i32(e)))
            .map(|i| self.entry(i))
    }

    /// Records that the batch ending at `last_offset` starts at `position`. Returns false if the
    /// index is full. Callers guarantee `last_offset - base` fits in an i32 (they roll first).
    pub(crate) fn append(&mut self, last_offset: i64, position: u64) -> bool {
        if let Some((prev, _)) = self.last() {
            if last_offset <= prev {
                return true;
            }
        }
        let mut e = [0u8; ENTRY];
        e[..4].copy_from_slice(&((last_offset - self.base_offset) as i32).to_be_bytes());
        e[4..].copy_from_slice(&(position as u32).to_be_bytes());
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
    fn lookup_returns_the_largest_entry_at_or_below_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = OffsetIndex::open(&dir.path().join("x.index"), 100).unwrap();
        idx.file().preallocate(80).unwrap();
        assert!(idx.append(104, 0));
        assert!(idx.append(110, 4096));
        assert!(idx.append(130, 9000));
        assert_eq!(idx.lookup(99), None);
        assert_eq!(idx.lookup(104), Some((104, 0)));
        assert_eq!(idx.lookup(129), Some((110, 4096)));
        assert_eq!(idx.lookup(1000), Some((130, 9000)));
    }

    #[test]
    fn a_full_index_refuses_entries_and_trim_keeps_them_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut idx = OffsetIndex::open(&path, 0).unwrap();
        idx.file().preallocate(16).unwrap();
        assert!(idx.append(1, 10));
        assert!(idx.append(2, 20));
        assert!(!idx.append(3, 30));
        assert!(idx.is_full());
        idx.file().trim().unwrap();
        drop(idx);
        let idx = OffsetIndex::open(&path, 0).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16);
    }
}
