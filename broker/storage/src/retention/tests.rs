//! Retention, DeleteRecords and truncation through the public `Log` API.

use crate::testutil::{headers, BatchBuilder};
use crate::{CleanupPolicy, Log, LogConfig, StorageError};

fn batch(ts: i64) -> Vec<u8> {
    BatchBuilder::new(2).timestamps(&[ts, ts]).build()
}

/// Three two-record batches per segment.
fn config(batch_len: usize) -> LogConfig {
    LogConfig {
        segment_bytes: (batch_len * 3) as u64,
        index_interval_bytes: 1,
        ..LogConfig::default()
    }
}

/// Nine batches (offsets 0..18) in segments [0..6), [6..12), [12..18) (active), with
/// timestamps `ts[i]` per segment.
fn log_with_segments(dir: &std::path::Path, extra: LogConfig, ts: [i64; 3]) -> (Log, usize) {
    let len = batch(0).len();
    let log = Log::open(
        dir,
        LogConfig {
            segment_bytes: (len * 3) as u64,
            ..extra
        },
    )
    .unwrap();
    for t in ts {
        for _ in 0..3 {
            log.append(&batch(t), 0, 0).unwrap();
        }
    }
    assert_eq!(log.segment_count(), 3);
    (log, len)
}

fn first_base(log: &Log) -> i64 {
    let r = log.read(log.log_start_offset(), 1, i64::MAX, true).unwrap();
    headers(&r.records).unwrap()[0].base_offset
}

#[test]
fn time_retention_deletes_sealed_segments_whose_newest_record_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let base = LogConfig {
        retention_ms: 10_000,
        ..config(0)
    };
    let (log, _) = log_with_segments(dir.path(), base, [1_000, 1_000, 20_000]);
    assert_eq!(log.apply_retention(10_999).unwrap(), 0);
    assert_eq!(log.apply_retention(15_000).unwrap(), 2);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 12);
    assert!(matches!(
        log.read(0, 100, i64::MAX, true),
        Err(StorageError::OffsetOutOfRange {
            log_start_offset: 12,
            ..
        })
    ));
    assert_eq!(first_base(&log), 12);
}

#[test]
fn time_retention_rolls_and_deletes_an_expired_active_segment_like_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let base = LogConfig {
        retention_ms: 10_000,
        ..config(0)
    };
    let (log, _) = log_with_segments(dir.path(), base, [1_000, 1_000, 2_000]);
    assert_eq!(log.apply_retention(100_000).unwrap(), 3);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (18, 18));
    assert_eq!(log.size_bytes(), 0);
    assert_eq!(log.append(&batch(0), 0, 0).unwrap().base_offset, 18);
}

#[test]
fn size_retention_deletes_oldest_segments_while_the_excess_covers_them() {
    let dir = tempfile::tempdir().unwrap();
    let len = batch(0).len() as i64;
    // 9 batches stored, 4 allowed: the first segment (3) goes, the second would overshoot.
    let base = LogConfig {
        retention_bytes: 4 * len,
        ..config(0)
    };
    let (log, _) = log_with_segments(dir.path(), base, [1, 2, 3]);
    assert_eq!(log.apply_retention(0).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 6);
    assert_eq!(log.size_bytes() as i64, 6 * len);
    assert_eq!(log.apply_retention(0).unwrap(), 0);
}

#[test]
fn compact_only_topics_are_not_deleted_by_retention() {
    let dir = tempfile::tempdir().unwrap();
    let base = LogConfig {
        retention_ms: 1,
        retention_bytes: 0,
        cleanup_policy: CleanupPolicy::Compact,
        ..config(0)
    };
    let (log, _) = log_with_segments(dir.path(), base, [1, 2, 3]);
    assert_eq!(log.apply_retention(1_000_000).unwrap(), 0);
    assert_eq!(log.segment_count(), 3);
}

#[test]
fn delete_records_moves_the_log_start_and_deletes_only_whole_segments_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = log_with_segments(dir.path(), LogConfig::default(), [1, 2, 3]);
    assert_eq!(log.delete_records_before(5).unwrap(), 5);
    assert_eq!(log.segment_count(), 3);
    assert!(log.read(4, 100, i64::MAX, true).is_err());
    assert_eq!(first_base(&log), 4); // the batch holding offset 5
    assert_eq!(log.delete_records_before(3).unwrap(), 5); // never moves back
    assert_eq!(log.delete_records_before(7).unwrap(), 7);
    assert_eq!(log.segment_count(), 2);
    let err = log.delete_records_before(19).unwrap_err();
    assert!(matches!(
        err,
        StorageError::OffsetOutOfRange { offset: 19, .. }
    ));
}

#[test]
fn delete_records_survives_reopen() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = log_with_segments(dir.path(), LogConfig::default(), [1, 2, 3]);
        log.delete_records_before(9).unwrap();
        if clean {
            log.close().unwrap();
        } else {
            drop(log);
        }
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        assert_eq!(log.log_start_offset(), 9, "clean: {clean}");
        assert_eq!(log.segment_count(), 2);
    }
}

#[test]
fn delete_records_up_to_the_log_end_empties_the_log_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = log_with_segments(dir.path(), LogConfig::default(), [1, 2, 3]);
    assert_eq!(log.delete_records_before(18).unwrap(), 18);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.size_bytes(), 0);
    assert!(log
        .read(18, 100, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
    assert_eq!(log.append(&batch(0), 0, 0).unwrap().base_offset, 18);
}

#[test]
fn a_reader_holding_a_deleted_segment_keeps_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = log_with_segments(dir.path(), LogConfig::default(), [1, 2, 3]);
    let held = log.segment_for(0).unwrap();
    log.delete_records_before(12).unwrap();
    assert!(!held.log_path().exists());
    let (position, header) = held.find_batch(3).unwrap().unwrap();
    assert_eq!(header.base_offset, 2);
    let bytes = held.read_bytes(position, header.size()).unwrap();
    assert_eq!(headers(&bytes).unwrap()[0].base_offset, 2);
}

#[test]
fn truncation_drops_the_batch_holding_the_offset_and_everything_after() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = log_with_segments(dir.path(), LogConfig::default(), [1, 2, 3]);
    log.truncate_to(7).unwrap(); // 7 is inside batch 6..=7, which goes whole
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.segment_count(), 2); // [0..6) and an emptied [6..)
    assert_eq!(log.append(&batch(0), 0, 0).unwrap().base_offset, 6);
    log.truncate_to(100).unwrap(); // beyond the end: nothing to do
    assert_eq!(log.log_end_offset(), 8);
    drop(log);
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 8);
}

#[test]
fn truncation_forgets_producer_batches_it_removed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.append(&BatchBuilder::new(1).producer(5, 0, 0).build(), 0, 0)
        .unwrap();
    let second = BatchBuilder::new(1).producer(5, 0, 1).build();
    log.append(&second, 0, 0).unwrap();
    log.truncate_to(1).unwrap();
    let again = log.append(&second, 0, 0).unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.base_offset, 1);
}

#[test]
fn truncation_below_the_log_start_restarts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = log_with_segments(dir.path(), LogConfig::default(), [1, 2, 3]);
    log.delete_records_before(10).unwrap();
    log.truncate_to(4).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (4, 4));
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.append(&batch(0), 0, 0).unwrap().base_offset, 4);
}

#[test]
fn segments_whose_batches_carry_no_timestamp_or_zero_age_by_file_time() {
    // -1 is "no timestamp"; 0 is what librdkafka's headers held for such records before
    // produce recomputed maxTimestamp. Either way the file's mtime (now) decides, as in Kafka.
    let dir = tempfile::tempdir().unwrap();
    let base = LogConfig {
        retention_ms: 60_000,
        ..config(0)
    };
    let (log, _) = log_with_segments(dir.path(), base, [0, -1, 0]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(log.apply_retention(now).unwrap(), 0);
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.log_start_offset(), 0);
}
