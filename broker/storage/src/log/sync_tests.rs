//! Grouped fsync and the failed state (`log/sync.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::testutil::BatchBuilder;
use crate::{Log, LogConfig, StorageError};

fn flush_every_message(dir: &std::path::Path) -> Arc<Log> {
    let config = LogConfig {
        flush_interval_messages: 1,
        ..LogConfig::default()
    };
    Arc::new(Log::open(dir, config).unwrap())
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn concurrent_flush_messages_appends_share_one_fsync_taken_off_the_append_lock() {
    let dir = tempfile::tempdir().unwrap();
    let log = flush_every_message(dir.path());
    log.append(&BatchBuilder::new(1).build(), 0, 0).unwrap();

    // An fsync round is in progress (as if a slow disk were syncing an earlier append).
    log.sync.lock().running = true;
    let appenders: Vec<_> = (0..8)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                let before = crate::checkpoint::fsyncs();
                let info = log.append(&BatchBuilder::new(2).build(), 0, 0);
                (
                    info.map(|i| i.last_offset),
                    crate::checkpoint::fsyncs() - before,
                )
            })
        })
        .collect();
    // Every append is written and visible while the round runs: none waits for an fsync
    // under the append lock.
    wait_for("all eight appends to be written", || {
        log.log_end_offset() == 17
    });
    assert_eq!(log.writer.lock().recovery_point, 1, "none is durable yet");

    {
        let mut s = log.sync.lock();
        s.running = false;
    }
    log.synced.notify_all();
    let mut fsyncs = 0;
    for a in appenders {
        let (last, n) = a.join().unwrap();
        assert!(last.is_ok(), "{last:?}");
        fsyncs += n;
    }
    assert_eq!(fsyncs, 1, "one fdatasync covers all eight acknowledgements");
    assert_eq!(log.writer.lock().recovery_point, 17);
}

#[test]
fn a_failed_log_refuses_writes_with_a_storage_error_and_recovers_when_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let log = flush_every_message(dir.path());
    log.append(&BatchBuilder::new(3).build(), 0, 0).unwrap();
    log.fail("fsync: Input/output error".into());

    let err = log.append(&BatchBuilder::new(1).build(), 0, 0).unwrap_err();
    assert!(matches!(err, StorageError::LogFailed { .. }), "{err}");
    assert_eq!(err.kafka_error_code(), 56, "KAFKA_STORAGE_ERROR");
    assert!(log.flush().is_err(), "no flush either");
    assert!(
        log.sync_to(100).is_err(),
        "waiters are released with the error"
    );
    assert!(log.failure().is_some_and(|r| r.contains("Input/output")));
    assert!(
        !log.read(0, usize::MAX, i64::MAX, true)
            .unwrap()
            .records
            .is_empty(),
        "what was appended stays readable"
    );

    drop(log);
    let reopened = flush_every_message(dir.path());
    assert!(reopened.failure().is_none());
    assert_eq!(reopened.log_end_offset(), 3);
    let info = reopened
        .append(&BatchBuilder::new(1).build(), 0, 0)
        .unwrap();
    assert_eq!(info.base_offset, 3);
}

/// The recovery checkpoint (a file write, an fsync and a directory fsync) is written once per
/// roll; neither the roll's fsync pass nor a `flush.messages` flush writes it under the append
/// lock, so appends never wait for it.
#[test]
fn the_recovery_checkpoint_is_never_written_under_the_append_lock() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 4096,
        flush_interval_messages: 1,
        ..LogConfig::default()
    };
    let log = Arc::new(Log::open(dir.path(), config).unwrap());
    let writes = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let (log, writes) = (Arc::downgrade(&log), writes.clone());
        crate::checkpoint::ON_WRITE.with(|hook| {
            *hook.borrow_mut() = Some(Box::new(move |name: &str| {
                if let Some(log) = log.upgrade() {
                    writes
                        .lock()
                        .unwrap()
                        .push((name.to_string(), log.writer.is_locked()));
                }
            }))
        });
    }
    let batch = BatchBuilder::new(10).value_len(200).build();
    for _ in 0..20 {
        log.append(&batch, 0, 0).unwrap();
    }
    log.maybe_roll(0).unwrap();
    log.flush().unwrap();
    crate::checkpoint::ON_WRITE.with(|hook| *hook.borrow_mut() = None);
    let writes = writes.lock().unwrap().clone();
    let recovery: Vec<_> = writes
        .iter()
        .filter(|(name, _)| name == crate::checkpoint::RECOVERY_POINT)
        .collect();
    assert!(
        recovery.len() >= 2,
        "rolls should have moved the checkpoint: {writes:?}"
    );
    assert!(
        recovery.iter().all(|(_, locked)| !locked),
        "checkpoint written under the append lock: {writes:?}"
    );
}

/// A roll writes a producer-state snapshot at the new segment's base offset, and the
/// fsync pass after the roll makes the sealed segment, the snapshot and the directory entries
/// durable (a directory fsync is among its fsyncs).
#[test]
fn every_roll_snapshots_producer_state_and_its_flush_fsyncs_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 4096,
        ..LogConfig::default()
    };
    let log = Log::open(dir.path(), config).unwrap();
    let mut seq = 0;
    for _ in 0..20 {
        log.append(
            &BatchBuilder::new(10)
                .value_len(200)
                .producer(7, 0, seq)
                .build(),
            0,
            0,
        )
        .unwrap();
        seq += 10;
    }
    let bases: Vec<i64> = log.segments.read().keys().copied().skip(1).collect();
    assert!(bases.len() >= 2, "the appends rolled: {bases:?}");
    // Older snapshots are pruned once a newer one is written: the latest roll's is there.
    let last = bases[bases.len() - 1];
    let snapshot = dir.path().join(format!("{last:020}.snapshot"));
    assert!(
        snapshot.exists(),
        "no producer snapshot at the roll to {last}"
    );
    let before = crate::checkpoint::fsyncs();
    log.flush_sealed().unwrap();
    assert!(
        crate::checkpoint::fsyncs() - before > 2 * bases.len(),
        "segments, snapshots and the directory are fsynced after the rolls"
    );
}
