//! The one place with `unsafe`: a memory-mapped file used by the index types.
//!
//! Format: none of its own; callers define the bytes. Thread-safety: `MmapFile` is `Send + Sync`
//! like `memmap2::MmapMut`; mutation needs `&mut self`, so callers wrap it in a lock to share it.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use crate::error::StorageError;

/// A read-write mapping of a whole file whose length only changes through [`MmapFile::resize`].
pub(crate) struct MmapFile {
    path: PathBuf,
    file: File,
    /// `None` for an empty file: zero-length mappings are not portable.
    map: Option<MmapMut>,
}

impl MmapFile {
    /// Opens (creating if needed) `path` and maps it. A `len` resizes the file first.
    pub(crate) fn open(path: &Path, len: Option<u64>) -> Result<MmapFile, StorageError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(StorageError::io("open index", path))?;
        if let Some(len) = len {
            file.set_len(len)
                .map_err(StorageError::io("resize index", path))?;
        }
        let mut mapped = MmapFile {
            path: path.to_path_buf(),
            file,
            map: None,
        };
        mapped.remap()?;
        Ok(mapped)
    }

    fn remap(&mut self) -> Result<(), StorageError> {
        self.map = None;
        let len = self
            .file
            .metadata()
            .map_err(StorageError::io("stat index", &self.path))?
            .len();
        if len > 0 {
            // SAFETY: the file is owned by this struct and opened read-write; the crate never
            // truncates it while mapped (resize drops the map first), and no other process is
            // expected to modify the partition directory while the broker runs. Bytes read
            // through the map are treated as untrusted data (every index entry is bounds-checked
            // by its caller), so concurrent external modification cannot cause unsoundness
            // beyond garbage values.
            let map = unsafe { MmapMut::map_mut(&self.file) }
                .map_err(StorageError::io("mmap index", &self.path))?;
            self.map = Some(map);
        }
        Ok(())
    }

    /// Sets the file length and remaps it; content up to the new length is kept.
    pub(crate) fn resize(&mut self, len: u64) -> Result<(), StorageError> {
        self.map = None;
        self.file
            .set_len(len)
            .map_err(StorageError::io("resize index", &self.path))?;
        self.remap()
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        self.map.as_deref_mut().unwrap_or(&mut [])
    }

    /// Writes dirty pages and file metadata to disk.
    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        if let Some(map) = &self.map {
            map.flush()
                .map_err(StorageError::io("msync index", &self.path))?;
        }
        self.file
            .sync_all()
            .map_err(StorageError::io("fsync index", &self.path))
    }
}
