//! Append, read, roll and lookups through the public `Log` API.

use kafka_protocol::records::Compression;

use crate::testutil::{headers, small_config, BatchBuilder};
use crate::{BatchError, Log, LogConfig, StorageError, TimestampOffset, TimestampType};

fn open(dir: &std::path::Path, config: LogConfig) -> Log {
    Log::open(dir, config).unwrap()
}

fn base_offsets(log: &Log, from: i64) -> Vec<i64> {
    let r = log.read(from, usize::MAX, i64::MAX, true).unwrap();
    headers(&r.records)
        .unwrap()
        .iter()
        .map(|h| h.base_offset)
        .collect()
}

#[test]
fn append_assigns_contiguous_offsets_and_stamps_them_into_the_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let a = log.append(&BatchBuilder::new(3).build(), 5, 0).unwrap();
    let b = log.append(&BatchBuilder::new(2).build(), 5, 0).unwrap();
    assert_eq!((a.base_offset, a.last_offset, a.record_count), (0, 2, 3));
    assert_eq!((b.base_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let read = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    let hs = headers(&read.records).unwrap();
    assert_eq!(hs.len(), 2);
    assert_eq!((hs[1].base_offset, hs[1].partition_leader_epoch), (3, 5));
    assert_eq!(read.log_end_offset, 5);
}

#[test]
fn several_batches_in_one_request_are_appended_together() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let mut payload = BatchBuilder::new(2).build();
    payload.extend(BatchBuilder::new(3).build());
    let info = log.append(&payload, 0, 0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 4, 5)
    );
    assert_eq!(base_offsets(&log, 0), vec![0, 2]);
}

#[test]
fn size_rolls_keep_every_offset_readable_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    for _ in 0..30 {
        log.append(&BatchBuilder::new(2).build(), 0, 0).unwrap();
    }
    assert!(log.segment_count() >= 3, "{} segments", log.segment_count());
    let all = base_offsets(&log, 0);
    assert_eq!(all, (0..30).map(|i| i * 2).collect::<Vec<_>>());
    for offset in 0..60 {
        assert_eq!(
            base_offsets(&log, offset)[0],
            offset / 2 * 2,
            "offset {offset}"
        );
    }
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".log") {
            assert_eq!(name.len(), "00000000000000000000.log".len());
        }
    }
}

#[test]
fn time_rolls_happen_when_segment_ms_has_passed_since_the_first_append() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config);
    log.append(&BatchBuilder::new(1).build(), 0, 10_000)
        .unwrap();
    log.append(&BatchBuilder::new(1).build(), 0, 10_500)
        .unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&BatchBuilder::new(1).build(), 0, 11_000)
        .unwrap();
    assert_eq!(log.segment_count(), 2);
    log.maybe_roll(11_500).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.maybe_roll(12_000).unwrap();
    assert_eq!(log.segment_count(), 3);
    log.maybe_roll(20_000).unwrap(); // the new active segment is empty: no roll
    assert_eq!(log.segment_count(), 3);
    assert_eq!(base_offsets(&log, 0), vec![0, 1, 2]);
}

#[test]
fn a_fetch_from_the_middle_of_a_batch_returns_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    log.append(&BatchBuilder::new(5).build(), 0, 0).unwrap();
    log.append(&BatchBuilder::new(5).build(), 0, 0).unwrap();
    assert_eq!(base_offsets(&log, 3), vec![0, 5]);
    assert_eq!(base_offsets(&log, 7), vec![5]);
}

#[test]
fn max_bytes_stops_before_a_batch_and_min_one_batch_returns_an_oversized_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let batch = BatchBuilder::new(1).build();
    for _ in 0..4 {
        log.append(&batch, 0, 0).unwrap();
    }
    let size = batch.len();
    let r = log.read(0, size * 2 + size / 2, i64::MAX, false).unwrap();
    assert_eq!(r.records.len(), size * 2);
    let r = log.read(1, size - 1, i64::MAX, false).unwrap();
    assert!(r.records.is_empty());
    let r = log.read(1, size - 1, i64::MAX, true).unwrap();
    assert_eq!(headers(&r.records).unwrap()[0].base_offset, 1);
    assert_eq!(r.records.len(), size);
}

#[test]
fn max_offset_excludes_any_batch_holding_an_offset_at_or_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    log.append(&BatchBuilder::new(3).build(), 0, 0).unwrap(); // 0..=2
    log.append(&BatchBuilder::new(3).build(), 0, 0).unwrap(); // 3..=5
    let hw = |max| {
        let r = log.read(0, usize::MAX, max, true).unwrap();
        headers(&r.records).unwrap().len()
    };
    assert_eq!(hw(2), 0);
    assert_eq!(hw(3), 1);
    assert_eq!(hw(5), 1);
    assert_eq!(hw(6), 2);
    assert!(log.read(3, usize::MAX, 3, true).unwrap().records.is_empty());
}

#[test]
fn offsets_outside_the_log_are_out_of_range_and_the_log_end_reads_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    log.append(&BatchBuilder::new(2).build(), 0, 0).unwrap();
    assert!(log
        .read(2, 1000, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
    let err = log.read(3, 1000, i64::MAX, true).unwrap_err();
    assert!(matches!(
        err,
        StorageError::OffsetOutOfRange {
            offset: 3,
            log_start_offset: 0,
            log_end_offset: 2
        }
    ));
    assert_eq!(err.kafka_error_code(), 1);
    assert!(log.read(-1, 1000, i64::MAX, true).is_err());
}

fn rejected(log: &Log, payload: &[u8]) -> BatchError {
    match log.append(payload, 0, 0) {
        Err(StorageError::InvalidBatch { kind, .. }) => kind,
        other => panic!("expected an invalid batch, got {other:?}"),
    }
}

#[test]
fn malformed_batches_are_rejected_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            max_message_bytes: 500,
            ..LogConfig::default()
        },
    );
    let good = BatchBuilder::new(2).build();

    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    assert!(matches!(
        rejected(&log, &bad_crc),
        BatchError::CrcMismatch { .. }
    ));

    let mut bad_magic = good.clone();
    bad_magic[16] = 1;
    assert_eq!(rejected(&log, &bad_magic), BatchError::UnsupportedMagic(1));

    assert!(matches!(
        rejected(&log, &good[..40]),
        BatchError::Truncated { .. }
    ));
    assert!(matches!(
        rejected(&log, &good[..good.len() - 3]),
        BatchError::Truncated { .. }
    ));
    assert_eq!(rejected(&log, &[]), BatchError::NoRecords);

    // recordCount 3 with lastOffsetDelta 1: patch the count and fix the CRC.
    let mut mismatch = good.clone();
    mismatch[57..61].copy_from_slice(&3i32.to_be_bytes());
    let crc = crc32c::crc32c(&mismatch[21..]);
    mismatch[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        rejected(&log, &mismatch),
        BatchError::CountMismatch { .. }
    ));

    let big = BatchBuilder::new(1).value_len(600).build();
    assert!(matches!(rejected(&log, &big), BatchError::TooLarge { .. }));

    // A good batch followed by a bad one: the whole request is refused.
    let mut mixed = good.clone();
    mixed.extend_from_slice(&bad_crc);
    assert!(matches!(
        rejected(&log, &mixed),
        BatchError::CrcMismatch { .. }
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn a_request_larger_than_a_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            segment_bytes: 200,
            ..LogConfig::default()
        },
    );
    let err = log
        .append(&BatchBuilder::new(1).value_len(300).build(), 0, 0)
        .unwrap_err();
    assert!(matches!(err, StorageError::RecordListTooLarge { .. }));
}

#[test]
fn log_append_time_stamps_the_append_time_and_keeps_the_crc_valid() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config);
    let info = log
        .append(&BatchBuilder::new(3).build(), 0, 77_000)
        .unwrap();
    assert_eq!((info.log_append_time, info.max_timestamp), (77_000, 77_000));
    let r = log.read(0, usize::MAX, i64::MAX, true).unwrap();
    let h = headers(&r.records).unwrap()[0]; // CRC checked
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, 77_000);
    assert_eq!(
        log.offset_for_timestamp(77_000).unwrap(),
        Some(TimestampOffset {
            timestamp: 77_000,
            offset: 0
        })
    );
}

#[test]
fn create_time_append_reports_no_log_append_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let info = log.append(&BatchBuilder::new(2).build(), 0, 5).unwrap();
    assert_eq!((info.log_append_time, info.max_timestamp), (-1, 1001));
}

#[test]
fn offset_for_timestamp_is_exact_within_uncompressed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    // Out-of-order timestamps inside a batch: the answer is the first record in offset order.
    log.append(
        &BatchBuilder::new(4)
            .timestamps(&[100, 300, 200, 400])
            .build(),
        0,
        0,
    )
    .unwrap();
    for i in 0..20 {
        let t = 1000 + i * 10;
        log.append(&BatchBuilder::new(2).timestamps(&[t, t + 5]).build(), 0, 0)
            .unwrap();
    }
    assert!(log.segment_count() > 1);
    let at = |ts| log.offset_for_timestamp(ts).unwrap();
    assert_eq!(
        at(50),
        Some(TimestampOffset {
            timestamp: 100,
            offset: 0
        })
    );
    assert_eq!(
        at(150),
        Some(TimestampOffset {
            timestamp: 300,
            offset: 1
        })
    );
    assert_eq!(
        at(350),
        Some(TimestampOffset {
            timestamp: 400,
            offset: 3
        })
    );
    // Batch i (from 0) starts at offset 4 + 2i with timestamps 1000+10i, 1005+10i.
    assert_eq!(
        at(1001),
        Some(TimestampOffset {
            timestamp: 1005,
            offset: 5
        })
    );
    assert_eq!(
        at(1100),
        Some(TimestampOffset {
            timestamp: 1100,
            offset: 24
        })
    );
    assert_eq!(
        at(1191),
        Some(TimestampOffset {
            timestamp: 1195,
            offset: 43
        })
    );
    assert_eq!(at(1196), None);
}

#[test]
fn offset_for_timestamp_is_exact_within_compressed_batches() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), LogConfig::default());
        let batch = BatchBuilder::new(5)
            .timestamps(&[10, 20, 30, 40, 50])
            .compression(codec)
            .build();
        assert_ne!(batch[22] & 0x07, 0, "{codec:?} batch is compressed");
        log.append(&batch, 0, 0).unwrap();
        assert_eq!(
            log.offset_for_timestamp(25).unwrap(),
            Some(TimestampOffset {
                timestamp: 30,
                offset: 2
            }),
            "{codec:?}"
        );
    }
}

#[test]
fn max_timestamp_offset_points_at_the_record_not_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(log.max_timestamp_offset(), None);
    log.append(
        &BatchBuilder::new(3).timestamps(&[10, 20, 30]).build(),
        0,
        0,
    )
    .unwrap();
    log.append(
        &BatchBuilder::new(3).timestamps(&[40, 90, 50]).build(),
        0,
        0,
    )
    .unwrap();
    for _ in 0..10 {
        log.append(&BatchBuilder::new(2).timestamps(&[60, 70]).build(), 0, 0)
            .unwrap();
    }
    assert_eq!(
        log.max_timestamp_offset(),
        Some(TimestampOffset {
            timestamp: 90,
            offset: 4
        })
    );
}

#[test]
fn an_idempotent_retry_returns_the_original_offsets_without_appending() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let first = BatchBuilder::new(2).producer(42, 0, 0).build();
    let a = log.append(&first, 0, 0).unwrap();
    log.append(&BatchBuilder::new(1).producer(42, 0, 2).build(), 0, 0)
        .unwrap();
    let retry = log.append(&first, 0, 0).unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        (retry.base_offset, retry.last_offset),
        (a.base_offset, a.last_offset)
    );
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn out_of_order_sequences_and_old_epochs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    log.append(&BatchBuilder::new(2).producer(42, 3, 0).build(), 0, 0)
        .unwrap();
    let gap = log
        .append(&BatchBuilder::new(1).producer(42, 3, 5).build(), 0, 0)
        .unwrap_err();
    assert!(matches!(
        gap,
        StorageError::OutOfOrderSequence {
            expected: 2,
            received: 5,
            ..
        }
    ));
    assert_eq!(gap.kafka_error_code(), 45);
    let fenced = log
        .append(&BatchBuilder::new(1).producer(42, 2, 2).build(), 0, 0)
        .unwrap_err();
    assert!(matches!(fenced, StorageError::InvalidProducerEpoch { .. }));
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn producer_state_survives_reopen_clean_or_not() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), LogConfig::default());
        let first = BatchBuilder::new(2).producer(9, 0, 0).build();
        log.append(&first, 0, 0).unwrap();
        if clean {
            log.close().unwrap();
        } else {
            drop(log);
        }
        let log = open(dir.path(), LogConfig::default());
        assert!(log.append(&first, 0, 0).unwrap().duplicate);
        let gap = log.append(&BatchBuilder::new(1).producer(9, 0, 7).build(), 0, 0);
        assert!(matches!(gap, Err(StorageError::OutOfOrderSequence { .. })));
        assert!(
            !log.append(&BatchBuilder::new(1).producer(9, 0, 2).build(), 0, 0)
                .unwrap()
                .duplicate
        );
    }
}

#[test]
fn transactional_batches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let mut b = BatchBuilder::new(1).producer(1, 0, 0).build();
    b[22] |= 1 << 4;
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(rejected(&log, &b), BatchError::Transactional);
}

#[test]
fn flush_messages_fsyncs_and_advances_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        LogConfig {
            flush_interval_messages: 3,
            ..LogConfig::default()
        },
    );
    let point = || log.writer.lock().recovery_point;
    // The leader-epoch checkpoint costs its fsyncs once per epoch: pay them first, so only
    // the flushes are counted.
    log.assign_epoch(0, 0).unwrap();
    let before = crate::checkpoint::fsyncs();
    log.append(&BatchBuilder::new(2).build(), 0, 0).unwrap();
    assert_eq!(point(), 0);
    assert_eq!(
        crate::checkpoint::fsyncs(),
        before,
        "no flush below flush.messages"
    );
    log.append(&BatchBuilder::new(2).build(), 0, 0).unwrap();
    assert_eq!(point(), 4);
    // The new log's directory entry, then the segment's data: no index, no checkpoint.
    assert_eq!(crate::checkpoint::fsyncs(), before + 2);
    let before = crate::checkpoint::fsyncs();
    log.append(&BatchBuilder::new(3).build(), 0, 0).unwrap();
    assert_eq!(point(), 7);
    assert_eq!(
        crate::checkpoint::fsyncs(),
        before + 1,
        "a flush.messages flush is one fdatasync of the log"
    );
}

#[test]
fn readers_run_concurrently_with_appends_and_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(open(dir.path(), small_config()));
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                log.append(&BatchBuilder::new(2).build(), 0, 0).unwrap();
            }
        })
    };
    let mut last_end = 0;
    while last_end < 400 {
        let end = log.log_end_offset();
        let r = log.read(0, usize::MAX, i64::MAX, true).unwrap();
        let hs = headers(&r.records).unwrap();
        let expected: Vec<i64> = (0..end / 2).map(|i| i * 2).collect();
        assert!(hs
            .iter()
            .map(|h| h.base_offset)
            .collect::<Vec<_>>()
            .starts_with(&expected));
        last_end = end;
    }
    writer.join().unwrap();
}

#[test]
fn special_list_offsets_timestamps_map_to_log_bounds_and_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    log.append(&BatchBuilder::new(3).timestamps(&[5, 9, 7]).build(), 0, 0)
        .unwrap();
    log.delete_records_before(1).unwrap();
    let at = |ts| log.offset_for_timestamp(ts).unwrap().unwrap();
    assert_eq!(
        at(-2),
        TimestampOffset {
            timestamp: -1,
            offset: 1
        }
    );
    assert_eq!(
        at(-1),
        TimestampOffset {
            timestamp: -1,
            offset: 3
        }
    );
    assert_eq!(
        at(-3),
        TimestampOffset {
            timestamp: 9,
            offset: 1
        }
    );
}

#[test]
fn a_log_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Log>();
}

#[test]
fn an_idle_producer_is_forgotten_after_its_expiration() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        producer_id_expiration_ms: 60_000,
        ..LogConfig::default()
    };
    let log = open(dir.path(), config);
    // Record timestamps are 1000 and 1001: the producer's last batch is from t=1001.
    log.append(&BatchBuilder::new(2).producer(42, 0, 0).build(), 0, 1_001)
        .unwrap();
    let gap = BatchBuilder::new(1).producer(42, 0, 9).build();
    assert!(
        log.append(&gap, 0, 2_000).is_err(),
        "still known: the gap is refused"
    );
    // Ten minutes on, the expiry check runs and the producer is past its 60 s expiration.
    log.maybe_roll(1_001 + 10 * 60 * 1000).unwrap();
    assert!(
        log.append(&gap, 0, 700_000).is_ok(),
        "forgotten: any sequence starts it again"
    );
}
