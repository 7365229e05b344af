//! Descriptors: a log holds one open file (its active `.log`) at rest, sealed segments are read
//! through the bounded [`FileCache`], and deleting or replacing a segment never breaks a reader
//! that already holds it.

use std::path::Path;

use crate::testutil::{headers, small_config, BatchBuilder};
use crate::{FileCache, Log};

/// Descriptors of this process open on files inside `dir` (other tests' files do not count).
fn open_files_in(dir: &Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .count()
}

fn write_segments(log: &Log, batches: usize) {
    for _ in 0..batches {
        log.append(&BatchBuilder::new(5).value_len(100).build(), 0, 0)
            .unwrap();
    }
}

#[test]
fn a_log_at_rest_holds_one_descriptor_and_reads_go_through_the_bounded_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileCache::new(2);
    let log = Log::open_with_cache(dir.path(), small_config(), &cache).unwrap();
    write_segments(&log, 20);
    assert!(log.segment_count() >= 6, "{} segments", log.segment_count());
    assert_eq!(
        open_files_in(dir.path()),
        1,
        "only the active segment's .log"
    );

    let all = log.read(0, usize::MAX, i64::MAX, true).unwrap();
    assert_eq!(headers(&all.records).unwrap().len(), 20);
    assert!(cache.open_files() <= 2);
    assert!(
        open_files_in(dir.path()) <= 3,
        "active + at most the cache's two"
    );

    log.close().unwrap();
    let log = Log::open_with_cache(dir.path(), small_config(), &cache).unwrap();
    assert!(open_files_in(dir.path()) <= 3, "reopen keeps the bound");
    let all = log.read(0, usize::MAX, i64::MAX, true).unwrap();
    assert_eq!(headers(&all.records).unwrap().len(), 20);
    drop(log);
    assert_eq!(
        open_files_in(dir.path()),
        0,
        "dropping the log closes its files"
    );
}

#[test]
fn a_reader_holding_a_deleted_segment_keeps_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FileCache::new(1);
    let log = Log::open_with_cache(dir.path(), small_config(), &cache).unwrap();
    write_segments(&log, 10);
    let first = log.segment_for(0).unwrap();
    let len = first.len() as usize;
    // Evict it from the cache, then delete it: the reader must still see its bytes.
    log.segment_after(first.base_offset())
        .unwrap()
        .read_bytes(0, 1)
        .unwrap();
    let end = log.log_end_offset();
    log.delete_records_before(end).unwrap();
    assert!(!first.log_path().exists());
    let bytes = first.read_bytes(0, len).unwrap();
    assert_eq!(headers(&bytes).unwrap()[0].base_offset, 0);
}
