//! The replication manager task: starts a fetcher per source broker this broker follows
//! from, ticks the partitions it leads (ISR shrink after `replica.lag.time.max.ms`), sends
//! the ISR changes leaders propose to the active controller, and checkpoints high watermarks.

use super::checkpoint;
use super::role::Role;
use crate::broker::Broker;
use crate::quorum::controller::Command;
use crate::shutdown::Shutdown;
use fjord_replication::IsrChange;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Kafka's `replica.high.watermark.checkpoint.interval.ms` default.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(5_000);

/// Milliseconds since the epoch, for the replication state machines.
pub fn now_ms() -> u64 {
    crate::api::now_ms().max(0) as u64
}

pub fn spawn(broker: Arc<Broker>, shutdown: Shutdown) {
    tokio::spawn(run(broker, shutdown));
}

async fn run(broker: Arc<Broker>, mut shutdown: Shutdown) {
    let tick = Duration::from_millis((broker.config.replica_lag_time_max_ms / 4).clamp(10, 1_000));
    let mut fetchers: BTreeMap<i32, JoinHandle<()>> = BTreeMap::new();
    let mut last_checkpoint = Instant::now();
    loop {
        tokio::select! {
            _ = broker.replication.changed.notified() => {}
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.recv() => {
                let b = broker.clone();
                let _ = crate::blocking::spawn(move || write_checkpoint(&b)).await;
                for (_, f) in fetchers {
                    f.abort();
                }
                return;
            }
        }
        start_fetchers(&broker, &mut fetchers);
        tick_leaders(&broker);
        let outbox = std::mem::take(&mut *broker.replication.outbox.lock());
        for ((topic, partition), change) in outbox {
            tokio::spawn(send_isr_change(broker.clone(), topic, partition, change));
        }
        if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            last_checkpoint = Instant::now();
            let b = broker.clone();
            // A file write and two fsyncs: on the blocking pool.
            crate::blocking::spawn(move || write_checkpoint(&b));
        }
    }
}

fn start_fetchers(broker: &Arc<Broker>, fetchers: &mut BTreeMap<i32, JoinHandle<()>>) {
    fetchers.retain(|_, f| !f.is_finished());
    let me = broker.config.node_id;
    let leaders: BTreeSet<i32> = broker
        .all_partitions()
        .iter()
        .filter_map(|p| match &*p.role.lock() {
            Role::Follower(f) if f.leader >= 0 && f.leader != me => Some(f.leader),
            _ => None,
        })
        .collect();
    for leader in leaders {
        fetchers
            .entry(leader)
            .or_insert_with(|| tokio::spawn(super::fetcher::run(broker.clone(), leader)));
    }
}

fn tick_leaders(broker: &Broker) {
    let now = now_ms();
    for p in broker.all_partitions() {
        let changes = match &mut *p.role.lock() {
            Role::Leader(l) => {
                let effects = l.state.tick(now);
                l.perform(effects).1
            }
            _ => continue,
        };
        broker.replication.propose(&p.topic, p.index, changes);
    }
}

/// Sends one ISR change to the active controller (AlterPartition as a forwarded command).
/// Whatever the answer, the pending change is settled: a committed one arrives through the
/// metadata, a refused one is proposed again from the committed state at the next tick.
async fn send_isr_change(broker: Arc<Broker>, topic: Arc<str>, partition: i32, change: IsrChange) {
    let Some(id) = broker.image().topic(&topic).map(|t| t.id) else {
        return;
    };
    let cmd = Command::AlterPartition {
        broker: broker.config.node_id,
        topic_id: id,
        partition,
        leader_epoch: change.leader_epoch,
        partition_epoch: change.partition_epoch,
        new_isr: change.new_isr.clone(),
    };
    let before = broker
        .image()
        .topic(&topic)
        .map_or(0, |t| t.isr(partition as usize).len());
    match broker.quorum.controller.submit(cmd).await {
        Ok(done) => {
            broker.quorum.wait_applied(done.index).await;
            match change.new_isr.len().cmp(&before) {
                std::cmp::Ordering::Less => broker.metrics.isr_shrinks.inc(),
                std::cmp::Ordering::Greater => broker.metrics.isr_expands.inc(),
                std::cmp::Ordering::Equal => {}
            }
            tracing::info!(topic = %topic, partition, isr = ?change.new_isr, "ISR change committed");
        }
        Err(e) => {
            tracing::info!(topic = %topic, partition, isr = ?change.new_isr, error = %e.message, "ISR change refused")
        }
    }
    if let Some(p) = broker.partition(&topic, partition) {
        if let Role::Leader(l) = &mut *p.role.lock() {
            if l.state.pending().is_some_and(|c| *c == change) {
                l.state.isr_change_failed();
            }
        }
    }
}

fn write_checkpoint(broker: &Broker) {
    let mut entries = broker
        .replication
        .checkpointed
        .lock()
        .clone()
        .unwrap_or_default();
    for p in broker.all_partitions() {
        if !matches!(*p.role.lock(), Role::Sole) {
            entries.insert((p.topic.to_string(), p.index), p.high_watermark());
        }
    }
    if entries.is_empty() {
        return;
    }
    if let Err(e) = checkpoint::write(&broker.config.log_dir, &entries) {
        tracing::warn!(error = %e, "cannot write {}", checkpoint::FILE);
    }
}
