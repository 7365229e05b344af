//! Partition replication on this broker (Kafka's ISR model, DESIGN.md §3 "Replication"): the
//! sans-IO state machine of `fjord-replication` driven by the broker.
//!
//! - [`role`]: what this broker is for each partition (sole replica, leader, follower);
//! - [`ops`]: a leader's appends and its followers' fetches fed to the state machine;
//! - [`transitions`]: after each metadata change, become leader or follower as the image says;
//! - [`fetcher`]: one task per source broker fetching the partitions this broker follows;
//! - [`manager`]: starts and stops fetchers, ticks leaders (ISR shrink), sends ISR changes to
//!   the controller, checkpoints high watermarks;
//! - [`gauges`]: leader count and follower lag on /metrics;
//! - [`checkpoint`]: Kafka's `replication-offset-checkpoint` file in the data directory;
//! - [`shutdown`]: controlled shutdown, moving leaderships away on SIGTERM;
//! - [`throttle`]: replication throttles (KIP-73) on both sides.

pub mod checkpoint;
pub mod fetcher;
pub mod gauges;
pub mod manager;
pub mod ops;
pub mod role;
pub mod shutdown;
pub mod throttle;
pub mod transitions;

use fjord_replication::IsrChange;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// The broker's replication bookkeeping (one per broker).
#[derive(Default)]
pub struct Replication {
    /// Woken when roles change or a leader has an ISR change to send.
    pub changed: Notify,
    /// ISR changes proposed by leaders and not yet sent, by (topic, partition).
    pub outbox: Mutex<BTreeMap<(Arc<str>, i32), IsrChange>>,
    /// High watermarks read from the checkpoint (at first use), used when a partition first
    /// takes a role (before that its high watermark is unknown).
    pub checkpointed: Mutex<Option<BTreeMap<(String, i32), i64>>>,
    /// The leader-side and follower-side replication quotas.
    pub throttles: throttle::Throttles,
}

impl Replication {
    /// The checkpointed high watermark of a partition, reading the file on first use.
    pub fn checkpointed_hw(
        &self,
        dir: &std::path::Path,
        topic: &str,
        partition: i32,
    ) -> Option<i64> {
        let mut ck = self.checkpointed.lock();
        ck.get_or_insert_with(|| checkpoint::read(dir))
            .get(&(topic.to_string(), partition))
            .copied()
    }

    /// Queues ISR changes for the manager to send.
    pub fn propose(&self, topic: &Arc<str>, partition: i32, changes: Vec<IsrChange>) {
        if changes.is_empty() {
            return;
        }
        let mut outbox = self.outbox.lock();
        for c in changes {
            outbox.insert((topic.clone(), partition), c);
        }
        drop(outbox);
        self.changed.notify_one();
    }
}
