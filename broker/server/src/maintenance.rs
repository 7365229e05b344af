//! Background work on partition logs: time-based rolls, timed flushes (`flush.ms`,
//! inside `maybe_roll`), retention and compaction, and retrying partitions that could
//! not be opened (disk full, too many open files) so they come online by themselves.
//!
//! It runs on a blocking thread per pass, so appends and fetches never wait on it;
//! the storage layer lets retention delete sealed segments while readers hold them.

use crate::api::now_ms;
use crate::broker::Broker;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;

/// How often rolls and timed flushes are checked (Kafka's scheduler runs similarly often).
const TICK: Duration = Duration::from_millis(500);
/// How often offline partitions are tried again: often enough that freeing space brings
/// them back within seconds, rarely enough that a full disk is not hammered.
const OFFLINE_RETRY: Duration = Duration::from_secs(2);

pub async fn run(broker: Arc<Broker>, mut shutdown: Shutdown) {
    let retention_every = Duration::from_millis(broker.config.retention_check_interval_ms.max(1));
    let mut last_retention = tokio::time::Instant::now();
    let mut last_offline_retry = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.recv() => return,
        }
        let retention_due = last_retention.elapsed() >= retention_every;
        if retention_due {
            last_retention = tokio::time::Instant::now();
        }
        let retry_due = last_offline_retry.elapsed() >= OFFLINE_RETRY;
        if retry_due {
            last_offline_retry = tokio::time::Instant::now();
        }
        let b = broker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if retry_due {
                b.retry_offline();
            }
            pass(&b, retention_due)
        })
        .await;
    }
}

fn pass(broker: &Broker, retention_due: bool) {
    let now = now_ms();
    for p in broker.all_partitions() {
        if let Err(e) = p.log.maybe_roll(now) {
            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "time-based roll failed");
        }
        if retention_due && p.log.config().compacts() {
            match p.log.compact() {
                Ok(s) if s.segments_rewritten > 0 => {
                    tracing::info!(topic = %p.topic, partition = p.index, segments = s.segments_rewritten, records_removed = s.records_removed, bytes_before = s.bytes_before, bytes_after = s.bytes_after, "compacted")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "compaction failed")
                }
            }
        }
        if retention_due && p.log.config().deletes() {
            match p.log.apply_retention(now) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(topic = %p.topic, partition = p.index, segments = n, log_start_offset = p.log.log_start_offset(), "retention deleted segments")
                }
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
                }
            }
        }
    }
}
