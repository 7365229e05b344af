//! Replication throttles (Kafka's `ReplicationQuotaManager`, KIP-73): a byte rate per broker
//! for the leader side (`leader.replication.throttled.rate`) and the follower side
//! (`follower.replication.throttled.rate`), applied only to the replicas a topic lists in
//! `leader.replication.throttled.replicas` / `follower.replication.throttled.replicas`, and
//! only while the replica is out of the ISR — so a reassignment's new replicas catch up at a
//! bounded rate while in-sync replication, and `acks=all`, are never slowed.
//!
//! The rate is enforced as a token bucket: up to one second's worth of bytes may pass at once
//! (a fetch reads at most what the bucket holds), then the quota counts as exceeded until the
//! bucket has refilled. While it is exceeded a throttled partition is left out of the fetch
//! (follower side) or answered without records (leader side), as Kafka does; its bytes are
//! counted when they pass. Kafka checks only whether its windowed rate is exceeded, so one
//! fetch of up to `replica.fetch.max.bytes` passes at once; Fjord's bucket also bounds the
//! size of each fetch, so the rate holds over short moves too.

use std::collections::BTreeSet;

/// Kafka's default rate: `Long.MAX_VALUE`, no throttle.
pub const UNLIMITED: u64 = i64::MAX as u64;

/// A topic's `leader.replication.throttled.replicas` or
/// `follower.replication.throttled.replicas`: `*`, or `partition:broker` pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ThrottledReplicas {
    /// The empty list: nothing throttled.
    #[default]
    None,
    /// `*`: every replica of the topic.
    All,
    /// `(partition, broker)` pairs.
    Listed(BTreeSet<(i32, i32)>),
}

impl ThrottledReplicas {
    /// Parses Kafka's syntax (`ThrottledReplicaListValidator`): empty, `*`, or a comma
    /// separated list of `partition:broker` with non-negative integers, spaces allowed.
    pub fn parse(value: &str) -> Result<ThrottledReplicas, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(ThrottledReplicas::None);
        }
        if value == "*" {
            return Ok(ThrottledReplicas::All);
        }
        let mut listed = BTreeSet::new();
        for entry in value.split(',') {
            let pair = entry.trim().split_once(':').and_then(|(p, b)| {
                let p = p.trim().parse::<i32>().ok().filter(|p| *p >= 0)?;
                let b = b.trim().parse::<i32>().ok().filter(|b| *b >= 0)?;
                Some((p, b))
            });
            match pair {
                Some(pair) => listed.insert(pair),
                None => {
                    return Err(format!(
                        "`{}` is not [partition]:[broker] (the list must be `*` or [partition]:[broker],[partition]:[broker],...)",
                        entry.trim()
                    ))
                }
            };
        }
        Ok(ThrottledReplicas::Listed(listed))
    }

    /// Whether the replica of `partition` on `broker` is throttled.
    pub fn contains(&self, partition: i32, broker: i32) -> bool {
        match self {
            ThrottledReplicas::None => false,
            ThrottledReplicas::All => true,
            ThrottledReplicas::Listed(l) => l.contains(&(partition, broker)),
        }
    }
}

/// One side's byte quota on one broker. The rate is passed in on every call, so a dynamic
/// config change applies at once.
#[derive(Debug, Default)]
pub struct Quota {
    /// Bytes that may still pass; negative once a batch larger than what was left passed.
    tokens: i64,
    /// When `tokens` was last refilled; `None` before first use.
    refilled_ms: Option<u64>,
}

impl Quota {
    /// The bytes throttled replicas may take at `now_ms` (`u64::MAX` with no rate); zero
    /// while the quota is exceeded. A fetch reads at most this much of a throttled replica
    /// (and at least one batch, so a batch larger than the burst still passes).
    pub fn allowance(&mut self, rate: u64, now_ms: u64) -> u64 {
        if rate >= UNLIMITED {
            return u64::MAX;
        }
        self.refill(rate, now_ms);
        self.tokens.max(0) as u64
    }

    /// Whether a throttled replica must wait: the bucket is empty at `now_ms`.
    pub fn exceeded(&mut self, rate: u64, now_ms: u64) -> bool {
        self.allowance(rate, now_ms) == 0
    }

    /// Counts `bytes` of throttled replicas that passed at `now_ms`.
    pub fn record(&mut self, bytes: u64, rate: u64, now_ms: u64) {
        if rate >= UNLIMITED {
            return;
        }
        self.refill(rate, now_ms);
        self.tokens = self
            .tokens
            .saturating_sub(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// How long until the bucket is no longer empty (zero when it is not).
    pub fn wait_ms(&mut self, rate: u64, now_ms: u64) -> u64 {
        if !self.exceeded(rate, now_ms) {
            return 0;
        }
        if rate == 0 {
            return 1000;
        }
        let missing = self.tokens.unsigned_abs() as u128;
        ((missing * 1000).div_ceil(rate as u128)).min(1000) as u64
    }

    fn refill(&mut self, rate: u64, now_ms: u64) {
        let burst = i64::try_from(rate).unwrap_or(i64::MAX);
        let Some(last) = self.refilled_ms else {
            self.tokens = burst;
            self.refilled_ms = Some(now_ms);
            return;
        };
        let elapsed = now_ms.saturating_sub(last);
        if elapsed == 0 {
            return;
        }
        let earned = (rate as u128 * elapsed as u128 / 1000).min(i64::MAX as u128) as i64;
        self.tokens = self.tokens.saturating_add(earned).min(burst);
        self.refilled_ms = Some(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_replica_lists_parse_as_kafka_writes_them() {
        assert_eq!(ThrottledReplicas::parse(""), Ok(ThrottledReplicas::None));
        assert_eq!(ThrottledReplicas::parse(" * "), Ok(ThrottledReplicas::All));
        let l = ThrottledReplicas::parse("0:101, 1:102 ,1:101").unwrap();
        assert!(l.contains(0, 101) && l.contains(1, 102) && l.contains(1, 101));
        assert!(!l.contains(0, 102) && !l.contains(2, 101));
        assert!(ThrottledReplicas::All.contains(7, 3));
        assert!(!ThrottledReplicas::None.contains(0, 0));
        for bad in ["0", "a:1", "0:-1", "0:1,", "0:1:2", "*,0:1"] {
            assert!(ThrottledReplicas::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_quota_lets_its_rate_through_per_second_and_no_more() {
        let rate = 1000;
        let mut q = Quota::default();
        let mut passed = 0;
        // Ten seconds of a fetcher asking every 10 ms for 300 bytes while not exceeded.
        for now in (0..10_000).step_by(10) {
            if !q.exceeded(rate, now) {
                q.record(300, rate, now);
                passed += 300;
            }
        }
        // One second of burst plus ten of rate, give or take one fetch.
        assert!((10_000..=11_300).contains(&passed), "{passed}");
        assert!(q.wait_ms(rate, 10_000) <= 1000);
    }

    #[test]
    fn an_unlimited_quota_is_never_exceeded_and_a_rate_change_applies_at_once() {
        let mut q = Quota::default();
        q.record(u64::MAX, UNLIMITED, 0);
        assert!(!q.exceeded(UNLIMITED, 0));
        q.record(5_000, 1_000, 0);
        assert!(q.exceeded(1_000, 100));
        assert_eq!(q.allowance(1_000, 100), 0);
        assert_eq!(q.wait_ms(1_000, 100), 1000);
        // Raised: the debt is paid at the new rate.
        assert_eq!(q.allowance(1_000_000, 200), 96_100);
        assert_eq!(q.allowance(UNLIMITED, 200), u64::MAX);
    }
}
