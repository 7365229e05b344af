//! The files of one segment and the reads every segment supports, active or sealed.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::batch::{BatchHeader, HEADER_LEN};
use crate::blocking;
use crate::checkpoint;
use crate::error::StorageError;
use crate::file_cache::{self, FileCache};
use crate::index::{OffsetIndex, TimeIndex};
use crate::TimestampOffset;

/// `<dir>/<base offset, 20 digits>.<ext>`, Kafka's segment file name.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// The two indexes of a segment, locked together.
pub(crate) struct Indexes {
    pub(crate) offset: OffsetIndex,
    pub(crate) time: TimeIndex,
}

/// `<base>.log`, `<base>.index` and `<base>.timeindex` of one segment.
///
/// Format: the `.log` is record batches v2 back to back, exactly as stored by append; see
/// [`crate::index`] for the two indexes.
///
/// Descriptors: the indexes are mapped and hold none. The `.log` is *pinned* (its descriptor
/// held here) while the segment is active, and while it is being deleted or replaced, so that
/// readers still holding this struct read the old inode; otherwise it is opened on demand
/// through the shared [`FileCache`], which bounds how many sealed segments are open at once.
///
/// Thread-safety: `Sync`. Readers use positioned reads (`pread`) bounded by `len`, which the
/// single writer publishes with release ordering only after the bytes are written; indexes sit
/// behind an `RwLock` held for a lookup or an insert, never across I/O on the `.log`. Deleting
/// the files while a reader holds this struct is fine: deletion pins the descriptor first.
pub(crate) struct SegmentFiles {
    base_offset: i64,
    log_path: PathBuf,
    /// Key of this segment in `cache`, unique for the process.
    id: u64,
    cache: Arc<FileCache>,
    pinned: Mutex<Option<Arc<File>>>,
    /// Bytes below this were CRC-checked since the segment was opened (by recovery, the
    /// scrubber or a read). See [`crate::segment::scrub`].
    pub(super) verified_upto: AtomicU64,
    /// Bytes from here on were appended by this process and validated on the way in; bytes
    /// below it were found on disk and are checked before they are served.
    pub(super) scrub_end: AtomicU64,
    /// Where the scrubber found a corrupt batch (`u64::MAX`: nowhere), so it reports it once.
    pub(super) corrupt_at: AtomicU64,
    len: AtomicU64,
    next_offset: AtomicI64,
    max_timestamp: Mutex<TimestampOffset>,
    indexes: RwLock<Indexes>,
    /// An index file did not exist when the segment was opened: it must be rebuilt.
    indexes_missing: bool,
}

impl SegmentFiles {
    /// Creates an empty segment, replacing any leftover files of the same name.
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        cache: &Arc<FileCache>,
    ) -> Result<SegmentFiles, StorageError> {
        for ext in ["index", "timeindex"] {
            let p = segment_path(dir, base_offset, ext);
            if p.exists() {
                fs::remove_file(&p).map_err(StorageError::io("remove stale index", &p))?;
            }
        }
        // The directory entry becomes durable with the log's next flush, before which none of
        // the segment's data is claimed durable either.
        Self::open_with(dir, base_offset, true, cache)
    }

    /// Opens an existing segment. `len` and `next_offset` are 0/base until the caller scans it.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        cache: &Arc<FileCache>,
    ) -> Result<SegmentFiles, StorageError> {
        Self::open_with(dir, base_offset, false, cache)
    }

    fn open_with(
        dir: &Path,
        base_offset: i64,
        create: bool,
        cache: &Arc<FileCache>,
    ) -> Result<SegmentFiles, StorageError> {
        blocking::check("open segment");
        let log_path = segment_path(dir, base_offset, "log");
        // A new segment is written at once: keep its descriptor. An existing one is only
        // scanned here; it is pinned when it becomes the active segment.
        let pinned = match create {
            true => Some(Arc::new(open_writable(&log_path, true)?)),
            false => None,
        };
        let len = fs::metadata(&log_path)
            .map_err(StorageError::io("stat segment", &log_path))?
            .len();
        let indexes_missing = ["index", "timeindex"]
            .iter()
            .any(|ext| !segment_path(dir, base_offset, ext).exists());
        let indexes = Indexes {
            offset: OffsetIndex::open(&segment_path(dir, base_offset, "index"), base_offset)?,
            time: TimeIndex::open(&segment_path(dir, base_offset, "timeindex"), base_offset)?,
        };
        Ok(SegmentFiles {
            base_offset,
            log_path,
            id: file_cache::next_id(),
            cache: cache.clone(),
            pinned: Mutex::new(pinned),
            verified_upto: AtomicU64::new(0),
            scrub_end: AtomicU64::new(if create { 0 } else { len }),
            corrupt_at: AtomicU64::new(u64::MAX),
            len: AtomicU64::new(len),
            next_offset: AtomicI64::new(base_offset),
            max_timestamp: Mutex::new(TimestampOffset::NONE),
            indexes: RwLock::new(indexes),
            indexes_missing,
        })
    }

    /// Whether `.index` or `.timeindex` had to be created when the segment was opened.
    pub(crate) fn indexes_missing(&self) -> bool {
        self.indexes_missing
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes of complete batches readers may see.
    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// One past the last offset stored in this segment (`base_offset` when empty).
    pub(crate) fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Largest batch timestamp and the last offset of its batch (`NONE` when empty).
    pub(crate) fn max_timestamp(&self) -> TimestampOffset {
        *self.max_timestamp.lock()
    }

    pub(crate) fn set_max_timestamp(&self, ts: TimestampOffset) {
        *self.max_timestamp.lock() = ts;
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Makes `len` bytes and offsets below `next_offset` visible to readers.
    pub(crate) fn publish(&self, len: u64, next_offset: i64) {
        self.len.store(len, Ordering::Release);
        self.next_offset.store(next_offset, Ordering::Release);
    }

    pub(crate) fn indexes(&self) -> RwLockReadGuard<'_, Indexes> {
        self.indexes.read()
    }

    pub(crate) fn indexes_mut(&self) -> RwLockWriteGuard<'_, Indexes> {
        self.indexes.write()
    }

    /// Writes `data` at `position` (the writer's end of file).
    pub(crate) fn write_at(&self, data: &[u8], position: u64) -> Result<(), StorageError> {
        blocking::check("write segment");
        self.pin_writable()?
            .write_all_at(data, position)
            .map_err(StorageError::io("write segment", &self.log_path))
    }

    /// Reads up to `buf.len()` bytes at `position`; returns how many were read (short at EOF).
    pub(crate) fn read_at(&self, buf: &mut [u8], position: u64) -> Result<usize, StorageError> {
        blocking::check("read segment");
        let file = self.file()?;
        let mut done = 0;
        while done < buf.len() {
            match file.read_at(&mut buf[done..], position + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StorageError::io("read segment", &self.log_path)(e)),
            }
        }
        Ok(done)
    }

    /// The header of the batch at `position`, or `None` if no whole batch ends before `limit`.
    pub(crate) fn header_at(
        &self,
        position: u64,
        limit: u64,
    ) -> Result<Option<BatchHeader>, StorageError> {
        if position + HEADER_LEN as u64 > limit {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        if self.read_at(&mut buf, position)? < HEADER_LEN {
            return Ok(None);
        }
        let header = BatchHeader::parse(&buf).map_err(|e| StorageError::CorruptLog {
            path: self.log_path.clone(),
            reason: format!("bad batch header at position {position}: {e}"),
        })?;
        if position + header.size() as u64 > limit {
            return Ok(None);
        }
        Ok(Some(header))
    }

    /// Position and header of the first batch whose last offset is `>= offset`, searching from
    /// the offset index's floor entry; `None` if the segment has no such batch.
    pub(crate) fn find_batch(
        &self,
        offset: i64,
    ) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        let limit = self.len();
        let start = self
            .indexes()
            .offset
            .lookup(offset)
            .map_or(0, |(_, pos)| pos);
        self.find_batch_from(start, limit, |h| h.last_offset() >= offset)
    }

    /// Scans batch headers from `position` for the first that satisfies `found`.
    pub(crate) fn find_batch_from(
        &self,
        mut position: u64,
        limit: u64,
        found: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        while let Some(header) = self.header_at(position, limit)? {
            if found(&header) {
                return Ok(Some((position, header)));
            }
            position += header.size() as u64;
        }
        Ok(None)
    }

    /// Reads `len` bytes at `position` (fewer at the end of the file) into a new buffer.
    ///
    /// `pread` fills the buffer's uninitialised capacity directly: zeroing it first cost as
    /// much as the read itself (27 % of a consume's user-space instructions, see
    /// docs/performance.md). Callers bound `len` by the segment's published length.
    pub(crate) fn read_bytes(&self, position: u64, len: usize) -> Result<Bytes, StorageError> {
        blocking::check("read segment");
        let file = self.file()?;
        let mut buf: Vec<u8> = Vec::with_capacity(len);
        while buf.len() < len {
            let at = position + buf.len() as u64;
            match rustix::io::pread(&*file, rustix::buffer::spare_capacity(&mut buf), at) {
                Ok(0) => break,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(StorageError::io("read segment", &self.log_path)(
                        std::io::Error::from(e),
                    ))
                }
            }
        }
        // `with_capacity` may give more room than asked: never return bytes past `len`.
        buf.truncate(len);
        Ok(Bytes::from(buf))
    }

    /// Cuts the `.log` to `len` bytes.
    pub(crate) fn truncate_log(&self, len: u64) -> Result<(), StorageError> {
        blocking::check("truncate segment");
        // What is appended after the cut is validated on the way in.
        self.scrub_end.fetch_min(len, Ordering::AcqRel);
        self.pin_writable()?
            .set_len(len)
            .map_err(StorageError::io("truncate segment", &self.log_path))
    }

    /// fsyncs the `.log` and both indexes.
    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        self.flush_log()?;
        self.flush_indexes()
    }

    /// fsyncs the `.log` only (`fdatasync`: its length is data, other metadata is not).
    pub(crate) fn flush_log(&self) -> Result<(), StorageError> {
        blocking::check("fsync segment");
        checkpoint::count_fsync();
        self.file()?
            .sync_data()
            .map_err(StorageError::io("fsync segment", &self.log_path))
    }

    /// fsyncs both indexes.
    pub(crate) fn flush_indexes(&self) -> Result<(), StorageError> {
        let idx = self.indexes();
        idx.offset.flush()?;
        idx.time.flush()
    }

    /// The `.log` descriptor: the pinned one, else the cache's.
    fn file(&self) -> Result<Arc<File>, StorageError> {
        if let Some(f) = &*self.pinned.lock() {
            return Ok(f.clone());
        }
        self.cache.get(self.id, &self.log_path)
    }

    /// Holds a read-write descriptor of the `.log` (the active segment's, and one about to be
    /// truncated) until [`SegmentFiles::unpin`].
    pub(crate) fn pin_writable(&self) -> Result<Arc<File>, StorageError> {
        let mut pinned = self.pinned.lock();
        if let Some(f) = &*pinned {
            return Ok(f.clone());
        }
        let f = Arc::new(open_writable(&self.log_path, false)?);
        *pinned = Some(f.clone());
        Ok(f)
    }

    /// Holds the current inode open, so readers keep reading it after the path is deleted or
    /// replaced.
    pub(crate) fn pin(&self) -> Result<(), StorageError> {
        let mut pinned = self.pinned.lock();
        if pinned.is_none() {
            *pinned = Some(self.cache.get(self.id, &self.log_path)?);
        }
        Ok(())
    }

    /// Holds `file` as this segment's `.log` descriptor: a cleaned segment is installed while
    /// its file still has its `.swap` name (see `compaction::swap`).
    pub(crate) fn pin_file(&self, file: File) {
        *self.pinned.lock() = Some(Arc::new(file));
    }

    /// Releases the pinned descriptor (the segment was sealed): reads go through the cache.
    pub(crate) fn unpin(&self) {
        *self.pinned.lock() = None;
    }

    /// Removes the three files. Readers still holding this segment keep reading the `.log`.
    pub(crate) fn delete(&self) -> Result<(), StorageError> {
        blocking::check("delete segment");
        match self.pin() {
            Err(StorageError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
        self.cache.remove(self.id);
        let dir = self.log_path.parent().unwrap_or(Path::new("."));
        for ext in ["log", "index", "timeindex"] {
            let p = segment_path(dir, self.base_offset, ext);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("delete segment", &p)(e)),
            }
        }
        checkpoint::sync_dir(dir)
    }
}

impl Drop for SegmentFiles {
    fn drop(&mut self) {
        self.cache.remove(self.id);
    }
}

fn open_writable(path: &Path, create: bool) -> Result<File, StorageError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(create)
        .open(path)
        .map_err(StorageError::io("open segment", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_bytes_returns_exactly_the_file_bytes_and_stops_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(4);
        let files = SegmentFiles::create(dir.path(), 0, &cache).unwrap();
        // Large enough that the kernel may answer a pread in several pieces.
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        files.write_at(&data, 0).unwrap();
        files.unpin();

        let all = files.read_bytes(0, data.len()).unwrap();
        assert_eq!(&all[..], &data[..]);
        let middle = files.read_bytes(12_345, 1_000_000).unwrap();
        assert_eq!(&middle[..], &data[12_345..1_012_345]);
        let tail = files.read_bytes(data.len() as u64 - 10, 100).unwrap();
        assert_eq!(
            &tail[..],
            &data[data.len() - 10..],
            "short at the end of file"
        );
        assert!(files
            .read_bytes(data.len() as u64 + 5, 10)
            .unwrap()
            .is_empty());
        assert!(files.read_bytes(0, 0).unwrap().is_empty());
    }
}
