//! Compaction through the public `Log` API.

use kafka_protocol::records::{Compression, RecordBatchDecoder};

use crate::testutil::{headers, BatchBuilder};
use crate::{CleanupPolicy, Log, LogConfig};

fn compacted_config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 1,
        cleanup_policy: CleanupPolicy::Compact,
        ..LogConfig::default()
    }
}

/// (offset, key) of every record the log serves from its start.
fn records(log: &Log) -> Vec<(i64, String)> {
    let mut bytes = log
        .read(log.log_start_offset(), usize::MAX, i64::MAX, true)
        .unwrap()
        .records;
    headers(&bytes).unwrap(); // every CRC still valid
    let mut out = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut bytes).unwrap() {
        for r in set.records {
            let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            out.push((r.offset, key));
        }
    }
    out
}

fn write_keys(log: &Log, keys: &[&str], codec: Compression) {
    for chunk in keys.chunks(2) {
        let b = BatchBuilder::new(chunk.len())
            .keys(chunk)
            .compression(codec)
            .build();
        log.append(&b, 0, 0).unwrap();
    }
}

#[test]
fn compaction_keeps_the_latest_record_per_key_with_offsets_preserved() {
    for codec in [Compression::None, Compression::Gzip, Compression::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        // Two two-record batches per segment.
        let len = BatchBuilder::new(2).compression(codec).build().len() as u64;
        let config = LogConfig {
            segment_bytes: len * 5 / 2,
            ..compacted_config()
        };
        let log = Log::open(dir.path(), config).unwrap();
        let keys = ["a", "b", "a", "c", "b", "a", "d", "e", "f", "g", "h", "i"];
        write_keys(&log, &keys, codec);
        assert!(log.segment_count() >= 3, "{codec:?}");
        let stats = log.compact().unwrap();
        assert_eq!(stats.records_removed, 3, "{codec:?}");
        let kept = records(&log);
        let kept_keys: Vec<(i64, &str)> = kept.iter().map(|(o, k)| (*o, k.as_str())).collect();
        assert_eq!(
            &kept_keys[..3],
            &[(3, "c"), (4, "b"), (5, "a")],
            "{codec:?}"
        );
        assert_eq!(log.log_end_offset(), 12);
        // Fetching a removed offset lands on the next kept record.
        let r = log.read(1, usize::MAX, i64::MAX, true).unwrap();
        assert!(headers(&r.records).unwrap()[0].base_offset <= 3);
    }
}

#[test]
fn compaction_is_a_no_op_for_delete_topics() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        LogConfig {
            cleanup_policy: CleanupPolicy::Delete,
            ..compacted_config()
        },
    )
    .unwrap();
    write_keys(
        &log,
        &["a", "a", "a", "a", "a", "a", "a", "a"],
        Compression::None,
    );
    assert_eq!(log.compact().unwrap().records_removed, 0);
}

#[test]
fn a_compacted_log_reopens_after_a_crash_with_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), compacted_config()).unwrap();
    write_keys(
        &log,
        &["a", "b", "a", "b", "a", "b", "x", "y", "z", "w"],
        Compression::Snappy,
    );
    log.compact().unwrap();
    let before = records(&log);
    drop(log);
    // Lose the recovery point (rolls write it only once their segments are fsynced).
    let _ = std::fs::remove_file(dir.path().join("recovery-point-offset-checkpoint"));
    let log = Log::open(dir.path(), compacted_config()).unwrap();
    assert_eq!(records(&log), before);
    assert_eq!(log.log_end_offset(), 10);
}

#[test]
fn an_emptied_idempotent_batch_stays_so_the_producer_sequence_survives() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), compacted_config()).unwrap();
    let mut seq = 0;
    for key in ["a", "a", "a", "a", "a", "a", "a", "a"] {
        let b = BatchBuilder::new(1)
            .keys(&[key])
            .producer(3, 0, seq)
            .build();
        log.append(&b, 0, 0).unwrap();
        seq += 1;
    }
    assert!(log.segment_count() >= 2);
    log.compact().unwrap();
    drop(log);
    let log = Log::open(dir.path(), compacted_config()).unwrap();
    let next = BatchBuilder::new(1)
        .keys(&["a"])
        .producer(3, 0, seq)
        .build();
    assert!(!log.append(&next, 0, 0).unwrap().duplicate);
}
