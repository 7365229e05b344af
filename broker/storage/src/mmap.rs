//! The one place with `unsafe`: a memory-mapped file used by the index types.
//!
//! Format: none of its own; callers define the bytes. Thread-safety: `MmapFile` is `Send + Sync`
//! like `memmap2::MmapMut`; mutation needs `&mut self`, so callers wrap it in a lock to share it.
//!
//! No file descriptor is kept: the mapping keeps the pages reachable after the descriptor is
//! closed, so an index costs a mapping and no descriptor (a broker with tens of thousands of
//! segments would otherwise run out of descriptors). The file is reopened by path for the rare
//! resize and for the fsync after one.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::{Advice, MmapMut};

use crate::error::StorageError;

/// A read-write mapping of a whole file whose length only changes through [`MmapFile::resize`].
pub(crate) struct MmapFile {
    path: PathBuf,
    /// `None` for an empty file: zero-length mappings are not portable.
    map: Option<MmapMut>,
    /// The file length changed since the last [`MmapFile::flush`]: the inode must be synced too.
    resized: AtomicBool,
}

fn open_rw(path: &Path) -> Result<File, StorageError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(StorageError::io("open index", path))
}

impl MmapFile {
    /// Opens (creating if needed) `path` and maps it. A `len` resizes the file first.
    pub(crate) fn open(path: &Path, len: Option<u64>) -> Result<MmapFile, StorageError> {
        let mut mapped = MmapFile {
            path: path.to_path_buf(),
            map: None,
            resized: AtomicBool::new(false),
        };
        let file = open_rw(path)?;
        if let Some(len) = len {
            file.set_len(len)
                .map_err(StorageError::io("resize index", path))?;
            mapped.resized.store(true, Ordering::Relaxed);
        }
        mapped.map(&file)?;
        Ok(mapped)
    }

    /// Maps `file` (this struct's path); the descriptor may be closed afterwards.
    fn map(&mut self, file: &File) -> Result<(), StorageError> {
        self.map = None;
        let len = file
            .metadata()
            .map_err(StorageError::io("stat index", &self.path))?
            .len();
        if len > 0 {
            // SAFETY: the crate never truncates the file while it is mapped (resize drops the
            // map first), and no other process is expected to modify the partition directory
            // while the broker runs. Bytes read through the map are treated as untrusted data
            // (every index entry is bounds-checked by its caller), so concurrent external
            // modification cannot cause unsoundness beyond garbage values. A shrink by another
            // process would fault on access; that is the same contract as Kafka's indexes.
            let map = unsafe { MmapMut::map_mut(file) }
                .map_err(StorageError::io("mmap index", &self.path))?;
            // Index pages are touched one at a time (an append, a binary-search probe). Without
            // this, the first write to a page of a preallocated (sparse) index makes the kernel
            // read ahead a large window of the hole: it allocates, zeroes and charges hundreds of
            // KiB per fault. With thousands of active segments that zeroing was most of the
            // broker's CPU time (perf: memset under page_cache_ra_order from
            // OffsetIndex::append) and their page cache grew with every partition.
            map.advise(Advice::Random)
                .map_err(StorageError::io("madvise index", &self.path))?;
            self.map = Some(map);
        }
        Ok(())
    }

    /// Sets the file length and remaps it; content up to the new length is kept.
    pub(crate) fn resize(&mut self, len: u64) -> Result<(), StorageError> {
        if self.bytes().len() as u64 == len {
            return Ok(());
        }
        self.map = None;
        let file = open_rw(&self.path)?;
        file.set_len(len)
            .map_err(StorageError::io("resize index", &self.path))?;
        self.resized.store(true, Ordering::Relaxed);
        self.map(&file)
    }

    /// Gives `[offset, offset + len)` disk blocks (`fallocate`, size unchanged), so the first
    /// store into a page of a sparse region cannot fault. Without it, a store into a hole of
    /// a full filesystem raises SIGBUS and kills the process; with it, the caller gets
    /// ENOSPC. A filesystem without `fallocate` keeps the old behaviour.
    pub(crate) fn allocate(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        let file = open_rw(&self.path)?;
        match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::KEEP_SIZE, offset, len) {
            Ok(()) | Err(rustix::io::Errno::OPNOTSUPP) => Ok(()),
            Err(e) => Err(StorageError::io("allocate index", &self.path)(e.into())),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        self.map.as_deref_mut().unwrap_or(&mut [])
    }

    /// Writes dirty pages to disk (`msync`), and the inode too if the length changed.
    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        if let Some(map) = &self.map {
            crate::checkpoint::count_fsync();
            map.flush()
                .map_err(StorageError::io("msync index", &self.path))?;
        }
        if self.resized.swap(false, Ordering::Relaxed) {
            crate::checkpoint::count_fsync();
            match File::open(&self.path).and_then(|f| f.sync_all()) {
                Ok(()) => {}
                // Deleted or replaced meanwhile (retention, compaction): nothing to keep.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    self.resized.store(true, Ordering::Relaxed);
                    return Err(StorageError::io("fsync index", &self.path)(e));
                }
            }
        }
        Ok(())
    }
}
