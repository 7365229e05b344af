//! One partition's replication state on its leader (Kafka's `Partition` with its remote
//! `Replica`s): what each follower has, the high watermark, and when to shrink or expand the ISR.
//!
//! The ISR itself belongs to the controller. The leader proposes a change ([`Effect::AlterIsr`])
//! and keeps using the committed ISR until the change comes back through the metadata
//! ([`LeaderState::isr_committed`]); while one change is in flight no other is proposed. For the
//! high watermark the leader counts the *maximal* ISR — the committed one plus any replica a
//! pending expansion adds (KIP-497) — so a record is never called committed while a replica that
//! may already count as in sync lacks it.

use std::collections::BTreeMap;

/// Kafka's `replica.lag.time.max.ms` default.
pub const DEFAULT_REPLICA_LAG_TIME_MAX_MS: u64 = 30_000;

/// The leader's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderConfig {
    /// A follower that has not caught up with the leader for this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        Self {
            replica_lag_time_max_ms: DEFAULT_REPLICA_LAG_TIME_MAX_MS,
        }
    }
}

/// An ISR change the leader asks the controller for (AlterPartition), based on the
/// partition epoch it last saw, so the controller refuses it if anything changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub new_isr: Vec<i32>,
    pub partition_epoch: i32,
    pub leader_epoch: i32,
}

/// What the broker must do after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The high watermark moved up to this offset: wake `acks=all` waiters and consumers,
    /// checkpoint it eventually.
    HighWatermark(i64),
    /// Send this ISR change to the controller.
    AlterIsr(IsrChange),
}

/// A fetch from a broker that is not a replica of the partition (Kafka answers
/// NOT_LEADER_OR_FOLLOWER... for an unassigned replica, `NotAssignedReplicaException`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAReplica(pub i32);

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Follower {
    /// Its log end offset (its last fetch offset); -1 until it fetches under this leader.
    leo: i64,
    /// The last time it was known to hold everything the leader had.
    last_caught_up_ms: u64,
    /// The leader's log end offset and the time at its previous fetch.
    last_fetch_leader_leo: i64,
    last_fetch_ms: u64,
}

/// One partition's replication state while this broker leads it. Not thread-safe by itself:
/// the broker keeps it behind the partition's lock.
#[derive(Debug, Clone)]
pub struct LeaderState {
    config: LeaderConfig,
    node: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: Vec<i32>,
    pending: Option<IsrChange>,
    followers: BTreeMap<i32, Follower>,
    leo: i64,
    hw: i64,
    /// The leader's log end offset when it took this epoch: a follower joins the ISR only
    /// once it holds all of the previous epochs (Kafka's leader-epoch start offset).
    epoch_start_offset: i64,
    /// When this broker took this epoch: the lag of a follower never caught up since.
    since_ms: u64,
}

/// How far one follower is behind its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerLag {
    pub replica: i32,
    /// Records the leader has that the follower has not fetched (its whole log end before its
    /// first fetch under this leader).
    pub records: i64,
    /// Milliseconds since it last held everything the leader had (0 when it does now): what
    /// `replica.lag.time.max.ms` is compared with.
    pub time_ms: u64,
}

impl LeaderState {
    /// This broker (`node`) became leader at `leader_epoch` with the given replicas and ISR;
    /// its log ends at `leo` and its checkpointed high watermark is `hw`. ISR followers count
    /// as caught up now, so none is dropped before it has had `replica.lag.time.max.ms` to fetch.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: LeaderConfig,
        node: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: &[i32],
        isr: &[i32],
        leo: i64,
        hw: i64,
        now_ms: u64,
    ) -> Self {
        let followers = replicas
            .iter()
            .filter(|&&r| r != node)
            .map(|&r| {
                let in_isr = isr.contains(&r);
                let f = Follower {
                    leo: -1,
                    last_caught_up_ms: if in_isr { now_ms } else { 0 },
                    last_fetch_leader_leo: if in_isr { leo } else { -1 },
                    last_fetch_ms: if in_isr { now_ms } else { 0 },
                };
                (r, f)
            })
            .collect();
        Self {
            config,
            node,
            leader_epoch,
            partition_epoch,
            isr: isr.to_vec(),
            pending: None,
            followers,
            leo,
            hw: hw.clamp(0, leo.max(0)),
            epoch_start_offset: leo,
            since_ms: now_ms,
            // The HW may rise at once when the leader is its whole ISR.
        }
        .settled()
    }

    fn settled(mut self) -> Self {
        self.advance_hw();
        self
    }

    pub fn high_watermark(&self) -> i64 {
        self.hw
    }

    pub fn log_end_offset(&self) -> i64 {
        self.leo
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// The committed ISR.
    pub fn isr(&self) -> &[i32] {
        &self.isr
    }

    /// The ISR change sent and not yet answered, if any.
    pub fn pending(&self) -> Option<&IsrChange> {
        self.pending.as_ref()
    }

    /// A follower's log end offset as last reported (-1 before its first fetch).
    pub fn follower_leo(&self, replica: i32) -> Option<i64> {
        self.followers.get(&replica).map(|f| f.leo)
    }

    /// Each follower's lag at `now_ms`, in replica id order.
    pub fn follower_lag(&self, now_ms: u64) -> Vec<FollowerLag> {
        self.followers
            .iter()
            .map(|(&replica, f)| {
                let records = (self.leo - f.leo.max(0)).max(0);
                let caught_up = if records == 0 {
                    now_ms
                } else {
                    f.last_caught_up_ms.max(self.since_ms)
                };
                FollowerLag {
                    replica,
                    records,
                    time_ms: now_ms.saturating_sub(caught_up),
                }
            })
            .collect()
    }

    /// The leader appended; its log now ends at `leo`.
    pub fn appended(&mut self, leo: i64) -> Vec<Effect> {
        self.leo = self.leo.max(leo);
        self.advance_hw().into_iter().collect()
    }

    /// `replica` fetched from `fetch_offset` at `now_ms`: it holds everything below it. Answers
    /// the effects (a higher high watermark, an expansion to propose); the fetch response then
    /// carries [`Self::high_watermark`].
    pub fn follower_fetched(
        &mut self,
        replica: i32,
        fetch_offset: i64,
        now_ms: u64,
    ) -> Result<Vec<Effect>, NotAReplica> {
        let leo = self.leo;
        let f = self
            .followers
            .get_mut(&replica)
            .ok_or(NotAReplica(replica))?;
        if fetch_offset >= leo {
            f.last_caught_up_ms = f.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= f.last_fetch_leader_leo {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.last_fetch_leader_leo = leo;
        f.last_fetch_ms = now_ms;
        // A fetch offset beyond the leader's end cannot be (the follower truncates first);
        // it is capped so it cannot lift the high watermark past the leader's log.
        f.leo = fetch_offset.min(leo);
        let mut effects = Vec::new();
        effects.extend(self.maybe_expand(replica));
        effects.extend(self.advance_hw());
        Ok(effects)
    }

    /// Time passed: followers that have not caught up for `replica.lag.time.max.ms` are
    /// proposed out of the ISR (Kafka's `maybeShrinkIsr`).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Effect> {
        if self.pending.is_some() {
            return Vec::new();
        }
        let lagging: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|r| *r != self.node)
            .filter(|r| {
                self.followers
                    .get(r)
                    .is_some_and(|f| self.out_of_sync(f, now_ms))
            })
            .collect();
        if lagging.is_empty() {
            return Vec::new();
        }
        let new_isr = self
            .isr
            .iter()
            .copied()
            .filter(|r| !lagging.contains(r))
            .collect();
        vec![self.propose(new_isr)]
    }

    /// Kafka's `isCaughtUp` negated: behind the leader's end and not caught up for too long.
    fn out_of_sync(&self, f: &Follower, now_ms: u64) -> bool {
        f.leo != self.leo
            && now_ms.saturating_sub(f.last_caught_up_ms) > self.config.replica_lag_time_max_ms
    }

    /// The controller committed this ISR at `partition_epoch` (ours or another change): the
    /// pending change is settled either way. A shrink may let the high watermark rise.
    pub fn isr_committed(&mut self, isr: &[i32], partition_epoch: i32) -> Vec<Effect> {
        if partition_epoch < self.partition_epoch {
            return Vec::new();
        }
        self.isr = isr.to_vec();
        self.partition_epoch = partition_epoch;
        self.pending = None;
        self.advance_hw().into_iter().collect()
    }

    /// The controller changed the replica set without a new leader epoch (a reassignment
    /// adding replicas): a new replica is followed from its first fetch and is not in sync
    /// until it catches up (Kafka's adding replicas); a replica no longer assigned is forgotten.
    pub fn replicas_changed(&mut self, replicas: &[i32]) {
        self.followers.retain(|r, _| replicas.contains(r));
        for &r in replicas.iter().filter(|&&r| r != self.node) {
            self.followers.entry(r).or_insert(Follower {
                leo: -1,
                last_caught_up_ms: 0,
                last_fetch_leader_leo: -1,
                last_fetch_ms: 0,
            });
        }
    }

    /// The controller refused or never answered the pending change: forget it, so the next
    /// tick or fetch proposes again from the committed state.
    pub fn isr_change_failed(&mut self) {
        self.pending = None;
    }

    fn propose(&mut self, new_isr: Vec<i32>) -> Effect {
        let change = IsrChange {
            new_isr,
            partition_epoch: self.partition_epoch,
            leader_epoch: self.leader_epoch,
        };
        self.pending = Some(change.clone());
        Effect::AlterIsr(change)
    }

    /// Kafka's `maybeExpandIsr`: a follower outside the ISR that holds everything up to the
    /// high watermark and all of the previous epochs is proposed in.
    fn maybe_expand(&mut self, replica: i32) -> Option<Effect> {
        if self.pending.is_some() || self.isr.contains(&replica) {
            return None;
        }
        let f = self.followers.get(&replica)?;
        if f.leo < self.hw || f.leo < self.epoch_start_offset {
            return None;
        }
        let mut new_isr = self.isr.clone();
        new_isr.push(replica);
        Some(self.propose(new_isr))
    }

    /// The maximal ISR: the committed one plus whoever a pending change adds.
    fn maximal_isr(&self) -> impl Iterator<Item = i32> + '_ {
        let added = self
            .pending
            .iter()
            .flat_map(|p| p.new_isr.iter().copied())
            .filter(|r| !self.isr.contains(r));
        self.isr.iter().copied().chain(added)
    }

    /// Raises the high watermark to the lowest log end offset over the maximal ISR; never
    /// lowers it.
    fn advance_hw(&mut self) -> Option<Effect> {
        let mut low = self.leo;
        for r in self.maximal_isr() {
            if r == self.node {
                continue;
            }
            low = low.min(self.followers.get(&r).map_or(-1, |f| f.leo));
        }
        if low > self.hw {
            self.hw = low;
            Some(Effect::HighWatermark(low))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: u64 = 1_000;

    fn leader(isr: &[i32]) -> LeaderState {
        let config = LeaderConfig {
            replica_lag_time_max_ms: LAG,
        };
        LeaderState::new(config, 1, 0, 0, &[1, 2, 3], isr, 0, 0, 0)
    }

    #[test]
    fn follower_lag_counts_records_behind_and_time_since_last_caught_up() {
        let mut l = leader(&[1, 2, 3]);
        l.appended(10);
        l.follower_fetched(2, 10, 100).unwrap();
        l.follower_fetched(3, 4, 100).unwrap();
        l.appended(15);
        let lag = l.follower_lag(700);
        assert_eq!(
            lag,
            vec![
                FollowerLag {
                    replica: 2,
                    records: 5,
                    time_ms: 600
                },
                FollowerLag {
                    replica: 3,
                    records: 11,
                    time_ms: 700
                },
            ],
            "2 last held everything at 100; 3 never did since the leader started at 0"
        );
        l.follower_fetched(2, 15, 800).unwrap();
        assert_eq!(
            l.follower_lag(900)[0],
            FollowerLag {
                replica: 2,
                records: 0,
                time_ms: 0
            }
        );
    }

    #[test]
    fn the_high_watermark_is_the_lowest_isr_log_end_offset() {
        let mut l = leader(&[1, 2, 3]);
        assert_eq!(l.appended(10), vec![], "followers have not fetched");
        assert_eq!(l.follower_fetched(2, 10, 5), Ok(vec![]));
        assert_eq!(
            l.follower_fetched(3, 4, 5),
            Ok(vec![Effect::HighWatermark(4)])
        );
        assert_eq!(
            l.follower_fetched(3, 10, 6),
            Ok(vec![Effect::HighWatermark(10)])
        );
        assert_eq!(l.follower_fetched(3, 2, 7), Ok(vec![]), "never goes back");
        assert_eq!(l.high_watermark(), 10);
        assert_eq!(l.follower_fetched(9, 0, 7), Err(NotAReplica(9)));
    }

    #[test]
    fn an_added_replica_is_followed_and_proposed_in_only_once_caught_up() {
        let mut l = leader(&[1, 2, 3]);
        l.appended(10);
        assert_eq!(l.follower_fetched(4, 0, 5), Err(NotAReplica(4)));
        l.replicas_changed(&[1, 2, 3, 4]);
        l.follower_fetched(2, 10, 6).unwrap();
        l.follower_fetched(3, 10, 6).unwrap();
        assert_eq!(
            l.high_watermark(),
            10,
            "an adding replica does not hold it back"
        );
        assert_eq!(
            l.follower_fetched(4, 5, 6),
            Ok(vec![]),
            "behind: not in sync"
        );
        let effects = l.follower_fetched(4, 10, 7).unwrap();
        assert!(
            effects.contains(&Effect::AlterIsr(IsrChange {
                new_isr: vec![1, 2, 3, 4],
                partition_epoch: 0,
                leader_epoch: 0,
            })),
            "{effects:?}"
        );
    }

    #[test]
    fn a_leader_alone_in_the_isr_commits_at_once() {
        let mut l = leader(&[1]);
        assert_eq!(l.appended(3), vec![Effect::HighWatermark(3)]);
    }

    #[test]
    fn a_follower_behind_for_longer_than_the_lag_time_is_proposed_out() {
        let mut l = leader(&[1, 2, 3]);
        l.appended(10);
        l.follower_fetched(2, 10, 100).unwrap();
        l.follower_fetched(3, 0, 100).unwrap();
        assert_eq!(l.tick(LAG), vec![], "within the lag time");
        l.follower_fetched(2, 10, LAG + 1).unwrap();
        let shrink = l.tick(LAG + 1);
        let expected = IsrChange {
            new_isr: vec![1, 2],
            partition_epoch: 0,
            leader_epoch: 0,
        };
        assert_eq!(shrink, vec![Effect::AlterIsr(expected)]);
        assert_eq!(l.tick(LAG * 5), vec![], "one change in flight at a time");
        assert_eq!(l.high_watermark(), 0, "3 still counts until committed");
        assert_eq!(l.isr_committed(&[1, 2], 1), vec![Effect::HighWatermark(10)]);
        assert_eq!(l.pending(), None);
    }

    #[test]
    fn a_slow_follower_that_keeps_reaching_the_previous_end_stays_in_sync() {
        let mut l = leader(&[1, 2]);
        let mut now = 0;
        for round in 1..20 {
            now += LAG / 2;
            // The leader appends between fetches; the follower always reaches where the
            // leader was at its previous fetch, never the current end.
            let before = l.log_end_offset();
            l.appended(before + 5);
            l.follower_fetched(2, before, now).unwrap();
            assert_eq!(l.tick(now), vec![], "round {round}");
        }
    }

    #[test]
    fn a_caught_up_follower_is_proposed_in_and_counts_while_pending() {
        let mut l = leader(&[1, 2]);
        l.appended(10);
        l.follower_fetched(2, 10, 1).unwrap();
        assert_eq!(l.high_watermark(), 10);
        assert_eq!(l.follower_fetched(3, 5, 2), Ok(vec![]), "below the HW");
        let effects = l.follower_fetched(3, 10, 3).unwrap();
        assert_eq!(
            effects,
            vec![Effect::AlterIsr(IsrChange {
                new_isr: vec![1, 2, 3],
                partition_epoch: 0,
                leader_epoch: 0,
            })]
        );
        l.appended(20);
        l.follower_fetched(2, 20, 4).unwrap();
        assert_eq!(l.high_watermark(), 10, "pending member 3 holds it back");
        l.isr_change_failed();
        assert_eq!(
            l.follower_fetched(2, 20, 5),
            Ok(vec![Effect::HighWatermark(20)])
        );
    }

    #[test]
    fn a_new_leader_waits_for_followers_to_pass_its_epoch_start() {
        let config = LeaderConfig::default();
        let mut l = LeaderState::new(config, 1, 3, 7, &[1, 2], &[1], 50, 40, 0);
        assert_eq!(
            l.high_watermark(),
            50,
            "alone in the ISR: everything it has"
        );
        assert_eq!(l.follower_fetched(2, 45, 1), Ok(vec![]));
        let effects = l.follower_fetched(2, 50, 2).unwrap();
        assert!(
            matches!(&effects[..], [Effect::AlterIsr(c)] if c.new_isr == [1, 2] && c.partition_epoch == 7 && c.leader_epoch == 3)
        );
        assert_eq!(l.isr_committed(&[1], 6), vec![], "a stale epoch is ignored");
        assert!(l.pending().is_some());
    }
}
