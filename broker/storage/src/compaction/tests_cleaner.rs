//! The cleaner's rules: dirty section only, bounded map, tombstone horizons, crash-safe
//! swaps, producer state, and the cleaner thread.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{Cleaner, CleanerConfig, CleanerThreads, LogSource};
use crate::testutil::headers;
use crate::{CleanupPolicy, Log, LogConfig, StorageError};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 1,
        cleanup_policy: CleanupPolicy::Compact,
        delete_retention_ms: 1000,
        ..LogConfig::default()
    }
}

/// One batch of `(key, value)` records (`None`: a tombstone), timestamps from `ts`.
fn batch(records: &[(&str, Option<&str>)], ts: i64, producer: Option<(i64, i32)>) -> Vec<u8> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.map_or(-1, |p| p.0),
            producer_epoch: if producer.is_some() { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: producer.map_or(-1, |p| p.1 + i as i32),
            timestamp: ts + i as i64,
            key: Some(Bytes::from(k.to_string())),
            value: v.map(|v| Bytes::from(v.to_string())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).unwrap();
    buf.to_vec()
}

fn put(log: &Log, key: &str, value: Option<&str>) {
    log.append(&batch(&[(key, value)], 1000, None), 0, 0)
        .unwrap();
}

/// (offset, key, value, timestamp) of every record served from the log start.
fn served(log: &Log) -> Vec<(i64, String, Option<String>, i64)> {
    let mut bytes = log
        .read(log.log_start_offset(), usize::MAX, i64::MAX, true)
        .unwrap()
        .records;
    headers(&bytes).unwrap();
    let mut out = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut bytes).unwrap() {
        for r in set.records {
            out.push((
                r.offset,
                String::from_utf8(r.key.unwrap().to_vec()).unwrap(),
                r.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
                r.timestamp,
            ));
        }
    }
    out
}

fn keys(log: &Log) -> Vec<(i64, String)> {
    served(log).into_iter().map(|(o, k, _, _)| (o, k)).collect()
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect()
}

fn sealed_bytes(log: &Log) -> u64 {
    log.writer.lock().sealed.values().map(|s| s.size()).sum()
}

#[test]
fn only_the_dirty_section_feeds_the_map_and_a_clean_log_is_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), config()).unwrap();
    for i in 0..12 {
        put(&log, &format!("k{}", i % 4), Some("v1"));
    }
    let mut cleaner = Cleaner::new(CleanerConfig::default());
    let dirty = sealed_bytes(&log);
    let first = cleaner.clean(&log, 0, false).unwrap();
    assert_eq!(first.map_bytes_read, dirty);
    assert!(first.records_removed > 0);
    let active_base = log.writer.lock().active.base_offset();
    assert_eq!(log.first_dirty_offset().unwrap(), active_base);
    let mtimes = |log: &Log| -> Vec<_> {
        let w = log.writer.lock();
        w.sealed
            .values()
            .map(|s| {
                std::fs::metadata(s.files().log_path())
                    .unwrap()
                    .modified()
                    .unwrap()
            })
            .collect()
    };
    let before = mtimes(&log);

    // Nothing new: nothing is read, nothing rewritten.
    let idle = cleaner.clean(&log, 0, false).unwrap();
    assert_eq!(idle.map_bytes_read + idle.clean_bytes_read, 0);
    assert_eq!(mtimes(&log), before);
    // Even forced (the group coordinator's `compact()`): nothing dirty, nothing read.
    let forced = cleaner.clean(&log, 0, true).unwrap();
    assert_eq!(forced.map_bytes_read + forced.clean_bytes_read, 0);
    assert_eq!(mtimes(&log), before);
    assert!(files_with_suffix(dir.path(), ".cleaned").is_empty());

    // New writes: only they go through the map.
    let clean_before = sealed_bytes(&log);
    for i in 0..6 {
        put(&log, &format!("k{}", i % 2), Some("v2"));
    }
    let dirty = sealed_bytes(&log) - clean_before;
    let second = cleaner.clean(&log, 0, true).unwrap();
    assert_eq!(second.map_bytes_read, dirty);
    let latest: Vec<(String, Option<String>)> = served(&log)
        .into_iter()
        .map(|(_, k, v, _)| (k, v))
        .filter(|(k, _)| k == "k0" || k == "k1")
        .collect();
    // Only the records of k0 and k1 written in the active segment (if any) remain besides
    // one per key in the sealed segments.
    assert!(
        latest.iter().all(|(_, v)| v.as_deref() == Some("v2")),
        "{latest:?}"
    );
}

#[test]
fn a_full_offset_map_cleans_up_to_where_it_stopped_and_the_next_pass_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), config()).unwrap();
    for round in 0..2 {
        for i in 0..20 {
            put(
                &log,
                &format!("k{i:02}"),
                Some(if round == 0 { "old" } else { "new" }),
            );
        }
    }
    put(&log, "tail", Some("x"));
    let active_base = log.writer.lock().active.base_offset();
    // Room for 10 entries: 8 slots, 7 keys at the 0.9 load factor.
    let mut cleaner = Cleaner::new(CleanerConfig {
        dedupe_buffer_size: 10 * super::offset_map::ENTRY_BYTES,
        ..CleanerConfig::default()
    });
    let mut passes = 0;
    let mut filled = 0;
    let mut last_end = log.first_dirty_offset().unwrap();
    while log.first_dirty_offset().unwrap() < active_base {
        passes += 1;
        assert!(passes <= 20, "no progress");
        let s = cleaner.clean(&log, 0, true).unwrap();
        assert!(s.map_entries <= 7, "{s:?}");
        if s.map_full {
            filled += 1;
            assert!(s.next_dirty_offset > last_end, "{s:?}");
            assert!(s.next_dirty_offset < active_base);
        }
        last_end = s.next_dirty_offset;
        assert_eq!(log.first_dirty_offset().unwrap(), last_end);
    }
    assert!(filled >= 3, "the map filled {filled} times");
    let served = served(&log);
    let sealed: Vec<_> = served.iter().filter(|r| r.0 < active_base).collect();
    assert_eq!(sealed.len(), 20, "{served:?}");
    assert!(sealed.iter().all(|r| r.2.as_deref() == Some("new")));
}

#[test]
fn tombstones_stay_until_delete_retention_ms_after_the_first_clean() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), config()).unwrap();
    put(&log, "a", Some("1"));
    put(&log, "b", Some("1"));
    put(&log, "a", None);
    for i in 0..6 {
        put(&log, &format!("f{i}"), Some("x"));
    }
    let mut cleaner = Cleaner::new(CleanerConfig::default());
    let t0 = 10_000;
    cleaner.clean(&log, t0, false).unwrap();
    let a: Vec<_> = served(&log).into_iter().filter(|r| r.1 == "a").collect();
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].2, None, "the tombstone stays");
    assert_eq!(a[0].3, 1000, "record timestamps survive the horizon stamp");

    // Before the horizon: not cleanable, nothing goes.
    assert!(cleaner.dirtiest(&[&log], t0 + 999).is_none());
    cleaner.clean(&log, t0 + 999, true).unwrap();
    assert_eq!(served(&log).iter().filter(|r| r.1 == "a").count(), 1);

    // At the horizon the log is cleanable without new writes, and the tombstone goes.
    assert!(cleaner.dirtiest(&[&log], t0 + 1000).is_some());
    let s = cleaner.clean(&log, t0 + 1000, false).unwrap();
    assert_eq!(s.records_removed, 1);
    assert_eq!(served(&log).iter().filter(|r| r.1 == "a").count(), 0);
    assert_eq!(served(&log).iter().filter(|r| r.1 == "b").count(), 1);
    assert!(cleaner.dirtiest(&[&log], t0 + 1_000_000).is_none());
}

#[test]
fn min_cleanable_dirty_ratio_and_lags_decide_when_a_log_is_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        LogConfig {
            min_compaction_lag_ms: 5_000,
            ..config()
        },
    )
    .unwrap();
    for i in 0..8 {
        put(&log, &format!("k{}", i % 2), Some("v")); // timestamps 1000
    }
    let cleaner = Cleaner::new(CleanerConfig::default());
    assert!(
        cleaner.dirtiest(&[&log], 5_500).is_none(),
        "younger than the lag"
    );
    assert!(cleaner.dirtiest(&[&log], 6_001).is_some());
    log.set_config(LogConfig {
        min_cleanable_dirty_ratio: 1.0,
        max_compaction_lag_ms: 60_000,
        ..config()
    });
    assert!(
        cleaner.dirtiest(&[&log], 6_001).is_none(),
        "ratio never reached"
    );
    assert!(
        cleaner.dirtiest(&[&log], 61_001).is_some(),
        "max.compaction.lag.ms"
    );
}

/// A compacted log's directory before and after one pass that merges its segments.
fn before_and_after(dir: &Path, before: &Path) -> (Vec<(i64, String)>, i64) {
    let log = Log::open(dir, config()).unwrap();
    for i in 0..12 {
        put(&log, &format!("k{}", i % 3), Some("v"));
    }
    log.close().unwrap();
    copy_dir(dir, before);
    let log = Log::open(
        dir,
        LogConfig {
            segment_bytes: 100_000, // the sealed segments now fit in one group
            ..config()
        },
    )
    .unwrap();
    let s = log.compact().unwrap();
    assert!(s.segments_replaced >= 2, "{s:?}");
    let first = log.log_start_offset();
    let after = keys(&log);
    log.close().unwrap();
    (after, first)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn seg(dir: &Path, base: i64, ext: &str) -> std::path::PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

#[test]
fn a_crash_at_any_step_of_the_swap_recovers_to_the_old_or_the_cleaned_log() {
    for step in ["cleaned", "swap", "indexes", "deleted"] {
        let root = tempfile::tempdir().unwrap();
        let (dir, before) = (root.path().join("p"), root.path().join("before"));
        let (after, first) = before_and_after(&dir, &before);
        let old = Log::open(&before, config()).unwrap();
        let old_keys = keys(&old);
        let bases: Vec<i64> = old.writer.lock().sealed.keys().copied().collect();
        old.close().unwrap();
        assert_eq!(bases[0], first);
        let cleaned_log = seg(&dir, first, "log");
        let _ = std::fs::remove_file(before.join(".kafka_cleanshutdown"));
        // Rebuild the directory as the crash left it.
        match step {
            "cleaned" => {
                std::fs::copy(&cleaned_log, seg(&before, first, "log.cleaned")).unwrap();
            }
            _ => {
                std::fs::copy(&cleaned_log, seg(&before, first, "log.swap")).unwrap();
            }
        }
        if step == "indexes" || step == "deleted" {
            std::fs::copy(seg(&dir, first, "index"), seg(&before, first, "index")).unwrap();
        }
        if step == "deleted" {
            for b in &bases[1..] {
                std::fs::remove_file(seg(&before, *b, "log")).unwrap();
            }
        }
        let log = Log::open(&before, config()).unwrap();
        let want = if step == "cleaned" { &old_keys } else { &after };
        assert_eq!(&keys(&log), want, "crash after step {step}");
        assert!(files_with_suffix(&before, ".swap").is_empty());
        assert!(files_with_suffix(&before, ".cleaned").is_empty());
        // A read in the middle of the cleaned segment finds its batch through the index.
        let (o, k) = &want[want.len() / 2];
        let r = log.read(*o, 1, i64::MAX, true).unwrap();
        assert!(headers(&r.records).unwrap()[0].last_offset() >= *o, "{k}");
    }
}

#[test]
fn an_idempotent_producers_last_batch_survives_cleaning_so_its_sequence_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), config()).unwrap();
    for seq in 0..3 {
        log.append(&batch(&[("a", Some("p"))], 1000, Some((7, seq))), 0, 0)
            .unwrap();
    }
    for i in 0..8 {
        put(&log, if i == 0 { "a" } else { "z" }, Some("later"));
    }
    log.compact().unwrap();
    let stored = log.read(0, usize::MAX, i64::MAX, true).unwrap().records;
    let pid7: Vec<_> = headers(&stored)
        .unwrap()
        .into_iter()
        .filter(|h| h.producer_id == 7)
        .collect();
    assert_eq!(pid7.len(), 1, "only the producer's last batch stays");
    assert_eq!((pid7[0].record_count, pid7[0].base_sequence), (0, 2));
    // Lose every snapshot: the state must come back from the log itself.
    drop(log);
    for name in files_with_suffix(dir.path(), ".snapshot") {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    let log = Log::open(dir.path(), config()).unwrap();
    let retry = log
        .append(&batch(&[("a", Some("p"))], 1000, Some((7, 2))), 0, 0)
        .unwrap();
    assert!(retry.duplicate, "a retry of the last batch is recognised");
    let gap = log.append(&batch(&[("a", Some("p"))], 1000, Some((7, 5))), 0, 0);
    assert!(
        matches!(gap, Err(StorageError::OutOfOrderSequence { .. })),
        "{gap:?}"
    );
    let next = log
        .append(&batch(&[("a", Some("p"))], 1000, Some((7, 3))), 0, 0)
        .unwrap();
    assert!(!next.duplicate);
}

struct Shared(Log);

impl AsRef<Log> for Shared {
    fn as_ref(&self) -> &Log {
        &self.0
    }
}

#[test]
fn the_cleaner_thread_cleans_the_dirty_log_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Shared(Log::open(dir.path(), config()).unwrap()));
    for i in 0..16 {
        put(&log.0, &format!("k{}", i % 2), Some("v"));
    }
    let idle_dir = tempfile::tempdir().unwrap();
    let idle = Arc::new(Shared(
        Log::open(
            idle_dir.path(),
            LogConfig {
                cleanup_policy: CleanupPolicy::Delete,
                ..config()
            },
        )
        .unwrap(),
    ));
    let logs: Vec<Arc<dyn AsRef<Log> + Send + Sync>> = vec![idle, log.clone()];
    let source: LogSource = Arc::new(move || logs.clone());
    let threads = CleanerThreads::spawn(
        CleanerConfig {
            backoff_ms: 10,
            threads: 2,
            ..CleanerConfig::default()
        },
        source,
        Arc::new(|| 0),
    )
    .unwrap();
    let active_base = log.0.writer.lock().active.base_offset();
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.0.first_dirty_offset().unwrap() < active_base {
        assert!(
            Instant::now() < deadline,
            "the cleaner thread did not clean"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    threads.shutdown();
    let sealed = served(&log.0)
        .into_iter()
        .filter(|r| r.0 < active_base)
        .count();
    assert!(
        sealed <= 2,
        "{sealed} records left below the active segment"
    );
}

#[test]
fn appends_and_reads_go_on_while_a_throttled_pass_writes_its_cleaned_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), config()).unwrap());
    for i in 0..40 {
        put(&log, &format!("k{}", i % 3), Some("v"));
    }
    let path = dir.path().to_path_buf();
    let cleaning = {
        let log = log.clone();
        std::thread::spawn(move || {
            // ~20 KB to read and write at 2 KB/s: the pass lasts seconds.
            let mut cleaner = Cleaner::new(CleanerConfig {
                io_max_bytes_per_second: 2000.0,
                ..CleanerConfig::default()
            });
            cleaner.clean(&log, 0, true).unwrap()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while files_with_suffix(&path, ".log.cleaned").is_empty() {
        assert!(Instant::now() < deadline, "the pass never started writing");
        assert!(
            !cleaning.is_finished(),
            "the pass ended before it was observed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The pass is writing: an append and a read do not wait for it.
    put(&log, "during", Some("v"));
    let end = log.log_end_offset();
    let read = log.read(end - 1, usize::MAX, i64::MAX, true).unwrap();
    assert!(!read.records.is_empty());
    assert!(
        !files_with_suffix(&path, ".log.cleaned").is_empty(),
        "the append waited for the pass to finish"
    );
    let stats = cleaning.join().unwrap();
    assert!(stats.records_removed > 0);
    assert_eq!(served(&log).last().unwrap().1, "during");
}

#[test]
fn a_batch_with_a_bad_crc_stops_the_pass_instead_of_being_copied_as_checked() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), config()).unwrap();
    for i in 0..12 {
        put(&log, &format!("k{}", i % 3), Some("value"));
    }
    let first = log.writer.lock().sealed.values().next().unwrap().clone();
    let path = first.files().log_path().to_path_buf();
    // Flip the last byte of the first segment's last batch: its CRC no longer matches.
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let err = log.compact().unwrap_err();
    assert!(matches!(err, StorageError::CorruptBatch { .. }), "{err:?}");
    assert!(files_with_suffix(dir.path(), ".cleaned").is_empty());
    assert!(files_with_suffix(dir.path(), ".swap").is_empty());
    assert_eq!(log.first_dirty_offset().unwrap(), 0, "no checkpoint moved");
}
