//! Reopening logs after clean shutdowns, crashes and damaged files.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::testutil::{headers, small_config, BatchBuilder};
use crate::{Log, LogConfig, TimestampOffset};

fn all_bytes(log: &Log) -> bytes::Bytes {
    log.read(log.log_start_offset(), usize::MAX, i64::MAX, true)
        .unwrap()
        .records
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn last_log(dir: &Path) -> PathBuf {
    files_with(dir, "log").pop().unwrap()
}

/// Appends `n` two-record batches and drops the log without closing it (a crash).
fn crashed_log(dir: &Path, config: LogConfig, n: usize) -> Vec<u8> {
    let log = Log::open(dir, config).unwrap();
    for i in 0..n {
        let t = 1000 + 10 * i as i64;
        log.append(&BatchBuilder::new(2).timestamps(&[t, t + 1]).build(), 0, 0)
            .unwrap();
    }
    let bytes = all_bytes(&log).to_vec();
    drop(log);
    bytes
}

#[test]
fn a_clean_reopen_keeps_every_batch_and_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    for _ in 0..25 {
        log.append(&BatchBuilder::new(2).build(), 3, 0).unwrap();
    }
    let before = all_bytes(&log);
    let segments = log.segment_count();
    log.close().unwrap();
    // Clean close leaves Kafka-shaped files: indexes trimmed to whole entries.
    for idx in files_with(dir.path(), "index") {
        assert_eq!(fs::metadata(&idx).unwrap().len() % 8, 0);
        assert!(fs::metadata(&idx).unwrap().len() < 4096);
    }
    assert!(dir.path().join(".kafka_cleanshutdown").exists());

    let log = Log::open(dir.path(), small_config()).unwrap();
    assert!(!dir.path().join(".kafka_cleanshutdown").exists());
    assert_eq!(log.log_end_offset(), 50);
    assert_eq!(log.segment_count(), segments);
    assert_eq!(all_bytes(&log), before);
    assert_eq!(
        log.append(&BatchBuilder::new(1).build(), 3, 0)
            .unwrap()
            .base_offset,
        50
    );
}

#[test]
fn garbage_after_the_last_batch_is_truncated_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let before = crashed_log(dir.path(), LogConfig::default(), 5);
    let mut f = OpenOptions::new()
        .append(true)
        .open(last_log(dir.path()))
        .unwrap();
    f.write_all(&[0xAB; 100]).unwrap();
    drop(f);

    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(all_bytes(&log).to_vec(), before);
    assert_eq!(
        fs::metadata(last_log(dir.path())).unwrap().len(),
        before.len() as u64
    );
    assert_eq!(
        log.append(&BatchBuilder::new(1).build(), 0, 0)
            .unwrap()
            .base_offset,
        10
    );
}

#[test]
fn a_torn_partial_batch_at_the_tail_is_truncated_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let before = crashed_log(dir.path(), LogConfig::default(), 3);
    let mut half = BatchBuilder::new(4).build();
    half[0..8].copy_from_slice(&6i64.to_be_bytes());
    let mut f = OpenOptions::new()
        .append(true)
        .open(last_log(dir.path()))
        .unwrap();
    f.write_all(&half[..half.len() / 2]).unwrap();
    drop(f);

    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(all_bytes(&log).to_vec(), before);
}

#[test]
fn a_tail_batch_with_a_bad_crc_is_truncated_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let before = crashed_log(dir.path(), LogConfig::default(), 4);
    let path = last_log(dir.path());
    let mut data = fs::read(&path).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xFF;
    fs::write(&path, &data).unwrap();

    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    let served = all_bytes(&log);
    assert_eq!(headers(&served).unwrap().len(), 3);
    assert_eq!(served.to_vec(), before[..served.len()].to_vec());
}

#[test]
fn corruption_below_a_lost_recovery_point_truncates_and_drops_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path(), small_config(), 30);
    assert!(files_with(dir.path(), "log").len() >= 3);
    let _ = fs::remove_file(dir.path().join("recovery-point-offset-checkpoint"));
    // Corrupt the second batch of the first segment.
    let first = files_with(dir.path(), "log").remove(0);
    let mut data = fs::read(&first).unwrap();
    let first_size = crate::batch::validate(&data).unwrap().size();
    data[first_size + 70] ^= 0xFF;
    fs::write(&first, &data).unwrap();

    let log = Log::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(files_with(dir.path(), "log").len(), 1);
    assert_eq!(
        log.append(&BatchBuilder::new(1).build(), 0, 0)
            .unwrap()
            .base_offset,
        2
    );
}

#[test]
fn a_corrupt_index_is_detected_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    for _ in 0..25 {
        log.append(&BatchBuilder::new(2).build(), 0, 0).unwrap();
    }
    let before = all_bytes(&log);
    log.close().unwrap();
    let index = files_with(dir.path(), "index").remove(0);
    let len = fs::metadata(&index).unwrap().len() as usize;
    assert!(len >= 16);
    // Entries pointing past the end of the segment, out of order.
    fs::write(&index, vec![0x7F; len]).unwrap();

    let log = Log::open(dir.path(), small_config()).unwrap();
    assert_eq!(all_bytes(&log), before);
    for offset in 0..50 {
        let r = log.read(offset, 1, i64::MAX, true).unwrap();
        assert_eq!(headers(&r.records).unwrap()[0].base_offset, offset / 2 * 2);
    }
    assert_eq!(
        fs::metadata(&index).unwrap().len() as usize,
        len,
        "rebuilt to the same entries"
    );
}

#[test]
fn missing_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    for i in 0..25 {
        log.append(&BatchBuilder::new(1).timestamps(&[100 + i]).build(), 0, 0)
            .unwrap();
    }
    log.close().unwrap();
    let index = files_with(dir.path(), "index").remove(0);
    let time_index = files_with(dir.path(), "timeindex").remove(0);
    let (len, time_len) = (
        fs::metadata(&index).unwrap().len(),
        fs::metadata(&time_index).unwrap().len(),
    );
    fs::remove_file(&index).unwrap();
    fs::remove_file(&time_index).unwrap();

    let log = Log::open(dir.path(), small_config()).unwrap();
    assert_eq!(fs::metadata(&index).unwrap().len(), len);
    assert_eq!(fs::metadata(&time_index).unwrap().len(), time_len);
    assert_eq!(
        log.offset_for_timestamp(103).unwrap(),
        Some(TimestampOffset {
            timestamp: 103,
            offset: 3
        })
    );
}

#[test]
fn stray_files_are_ignored_or_cleaned_without_failing_open() {
    let dir = tempfile::tempdir().unwrap();
    crashed_log(dir.path(), LogConfig::default(), 2);
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    fs::write(dir.path().join("0000000000000000000x.log"), b"junk").unwrap();
    fs::write(dir.path().join("00000000000000000099.index"), b"orphan").unwrap();
    fs::write(dir.path().join("00000000000000000000.log.swap"), b"half").unwrap();

    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    assert!(!dir.path().join("00000000000000000099.index").exists());
    assert!(!dir.path().join("00000000000000000000.log.swap").exists());
    assert!(dir.path().join("notes.txt").exists());
}

#[test]
fn an_invalid_config_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 0,
        ..LogConfig::default()
    };
    assert!(matches!(
        Log::open(dir.path(), config),
        Err(crate::StorageError::InvalidConfig {
            name: "segment.bytes",
            ..
        })
    ));
}
