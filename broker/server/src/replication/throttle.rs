//! Replication throttles on this broker (KIP-73): the leader side holds back the records of
//! throttled out-of-sync followers while `leader.replication.throttled.rate` is exceeded, and
//! the follower side leaves its throttled out-of-sync partitions out of its fetches while
//! `follower.replication.throttled.rate` is. The rules and the quota are
//! [`fjord_replication::throttle`]'s; the rates are the live broker configs and the replica
//! lists the topic's configs, both read at each use so changes apply at once.

use crate::broker::Broker;
use fjord_replication::throttle::{Quota, ThrottledReplicas, UNLIMITED};
use parking_lot::Mutex;

/// Which side of replication a quota throttles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Leader,
    Follower,
}

impl Side {
    fn topic_key(self) -> &'static str {
        match self {
            Side::Leader => "leader.replication.throttled.replicas",
            Side::Follower => "follower.replication.throttled.replicas",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Side::Leader => "leader",
            Side::Follower => "follower",
        }
    }
}

/// The two quotas of this broker.
#[derive(Default)]
pub struct Throttles {
    leader: Mutex<Quota>,
    follower: Mutex<Quota>,
}

impl Broker {
    fn throttle_rate(&self, side: Side) -> u64 {
        let cfg = self.live_config();
        match side {
            Side::Leader => cfg.leader_throttled_rate,
            Side::Follower => cfg.follower_throttled_rate,
        }
    }

    fn quota(&self, side: Side) -> &Mutex<Quota> {
        match side {
            Side::Leader => &self.replication.throttles.leader,
            Side::Follower => &self.replication.throttles.follower,
        }
    }

    /// Whether `side`'s quota applies to `replica` of `topic`/`partition`: a rate is set, the
    /// topic lists this replica (the leader side lists the leader's own id, the follower side
    /// the follower's, as Kafka's reassignment tool writes them) and `replica` is out of the
    /// ISR.
    pub fn throttled(&self, side: Side, topic: &str, partition: i32, replica: i32) -> bool {
        if self.throttle_rate(side) >= UNLIMITED {
            return false;
        }
        let image = self.image();
        let Some(t) = image.topic(topic) else {
            return false;
        };
        let listed = t
            .configs
            .get(side.topic_key())
            .and_then(|v| ThrottledReplicas::parse(v).ok())
            .unwrap_or_default();
        let in_sync = t
            .isr
            .get(partition as usize)
            .is_some_and(|isr| isr.contains(&replica));
        listed.contains(partition, self.config.node_id) && !in_sync
    }

    /// The bytes a throttled replica may take now: zero while the quota is exceeded (the
    /// hold-back is counted), `usize::MAX` with no rate.
    pub fn throttle_allowance(&self, side: Side) -> usize {
        let now = crate::replication::manager::now_ms();
        let allowance = self
            .quota(side)
            .lock()
            .allowance(self.throttle_rate(side), now);
        if allowance == 0 {
            self.metrics
                .throttled_fetches
                .with_label_values(&[side.label()])
                .inc();
        }
        usize::try_from(allowance).unwrap_or(usize::MAX)
    }

    /// Counts `bytes` of throttled replicas that passed.
    pub fn throttle_record(&self, side: Side, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let now = crate::replication::manager::now_ms();
        let rate = self.throttle_rate(side);
        self.quota(side).lock().record(bytes as u64, rate, now);
        self.metrics
            .throttled_bytes
            .with_label_values(&[side.label()])
            .inc_by(bytes as u64);
    }

    /// How long until `side`'s quota lets a throttled replica through again.
    pub fn throttle_wait(&self, side: Side) -> std::time::Duration {
        let now = crate::replication::manager::now_ms();
        let rate = self.throttle_rate(side);
        std::time::Duration::from_millis(self.quota(side).lock().wait_ms(rate, now))
    }
}
