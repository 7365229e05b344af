//! [`FileCache`]: a bounded, shared cache of open `.log` descriptors of sealed segments.
//!
//! A broker with thousands of partitions and many segments each cannot keep every segment file
//! open: the descriptor limit would be reached long before memory or disk. Active segments keep
//! their own descriptor (they are written on every produce); sealed segments are opened on
//! first read through this cache and closed again when it evicts them, least recently used
//! first. A partition at rest therefore costs one descriptor.
//!
//! Thread-safety: `Send + Sync`, shared in an `Arc` by every log of a broker. A lookup takes a
//! short mutex; the `open(2)` of a miss happens outside it. An evicted file stays open until
//! the readers that hold it finish, so the bound can be exceeded by the reads in flight.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::error::StorageError;

/// Open sealed-segment files kept by default: well under a typical descriptor limit once every
/// partition's active segment and the client sockets are counted, and enough that consumers
/// reading recent sealed segments of a few thousand partitions do not reopen files.
pub const DEFAULT_OPEN_SEGMENT_FILES: usize = 2048;

/// Identifies one segment's files for the life of the process; never reused, so a segment
/// recreated under the same name cannot be served a stale descriptor.
pub(crate) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A bounded LRU of read-only descriptors keyed by segment id.
pub struct FileCache {
    inner: Mutex<Lru>,
}

struct Lru {
    capacity: usize,
    tick: u64,
    /// Segment id -> (file, last use).
    files: HashMap<u64, (Arc<File>, u64)>,
    /// Last use -> segment id, oldest first.
    order: BTreeMap<u64, u64>,
}

impl Lru {
    fn touch(&mut self, id: u64) -> Option<Arc<File>> {
        self.tick += 1;
        let tick = self.tick;
        let (file, used) = self.files.get_mut(&id)?;
        self.order.remove(used);
        *used = tick;
        self.order.insert(tick, id);
        Some(file.clone())
    }

    fn evict_to(&mut self, room: usize) {
        while self.files.len() + room > self.capacity {
            let Some((_, id)) = self.order.pop_first() else {
                break;
            };
            self.files.remove(&id);
        }
    }
}

impl FileCache {
    /// A cache keeping at most `capacity` files open (at least one).
    pub fn new(capacity: usize) -> Arc<FileCache> {
        Arc::new(FileCache {
            inner: Mutex::new(Lru {
                capacity: capacity.max(1),
                tick: 0,
                files: HashMap::new(),
                order: BTreeMap::new(),
            }),
        })
    }

    /// The process-wide cache [`crate::Log::open`] uses, with
    /// [`DEFAULT_OPEN_SEGMENT_FILES`] until [`FileCache::set_capacity`] changes it.
    pub fn global() -> &'static Arc<FileCache> {
        static GLOBAL: OnceLock<Arc<FileCache>> = OnceLock::new();
        GLOBAL.get_or_init(|| FileCache::new(DEFAULT_OPEN_SEGMENT_FILES))
    }

    /// Changes the bound; surplus files are closed at once (as soon as their readers finish).
    pub fn set_capacity(&self, capacity: usize) {
        let mut lru = self.inner.lock();
        lru.capacity = capacity.max(1);
        lru.evict_to(0);
    }

    /// Files currently held open by the cache.
    pub fn open_files(&self) -> usize {
        self.inner.lock().files.len()
    }

    /// The open file of segment `id`, opening `path` read-only on a miss.
    pub(crate) fn get(&self, id: u64, path: &Path) -> Result<Arc<File>, StorageError> {
        if let Some(f) = self.inner.lock().touch(id) {
            return Ok(f);
        }
        let file = Arc::new(File::open(path).map_err(StorageError::io("open segment", path))?);
        let mut lru = self.inner.lock();
        if let Some(f) = lru.touch(id) {
            return Ok(f); // another reader opened it meanwhile
        }
        lru.evict_to(1);
        lru.tick += 1;
        let tick = lru.tick;
        lru.files.insert(id, (file.clone(), tick));
        lru.order.insert(tick, id);
        Ok(file)
    }

    /// Forgets segment `id` (its files were deleted, replaced or dropped).
    pub(crate) fn remove(&self, id: u64) {
        let mut lru = self.inner.lock();
        if let Some((_, used)) = lru.files.remove(&id) {
            lru.order.remove(&used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_file_is_closed_when_the_cache_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..3)
            .map(|i| {
                let p = dir.path().join(format!("{i}.log"));
                std::fs::write(&p, b"x").unwrap();
                p
            })
            .collect();
        let cache = FileCache::new(2);
        let a = cache.get(1, &paths[0]).unwrap();
        cache.get(2, &paths[1]).unwrap();
        // Using 1 again makes 2 the oldest.
        assert!(Arc::ptr_eq(&a, &cache.get(1, &paths[0]).unwrap()));
        cache.get(3, &paths[2]).unwrap();
        assert_eq!(cache.open_files(), 2);
        let inner = cache.inner.lock();
        assert!(inner.files.contains_key(&1) && inner.files.contains_key(&3));
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let cache = FileCache::new(4);
        let err = cache.get(9, Path::new("/nonexistent/x.log")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.log"));
        assert_eq!(cache.open_files(), 0);
    }
}
