//! Partition leader election and the ISR changes that go with it: Kafka's
//! `PartitionChangeBuilder` and its callers in `ReplicationControlManager`, without KIP-966
//! (eligible leader replicas). Every change also completes an ongoing reassignment once its
//! adding replicas are all in the ISR (see [`crate::reassignment`]).
//!
//! Which Kafka we follow: the rules of KRaft with ELR off (every 3.x release, and 4.x clusters
//! that have not enabled the `eligible.leader.replicas.version` feature), at a metadata version of
//! 3.6 or later:
//! - The ISR never becomes empty. When the broker to remove is the last ISR member, it stays in
//!   the ISR and the partition goes offline (leader -1) unless an unclean election finds a live
//!   out-of-sync replica. The last ISR member is the one replica known to hold every
//!   acknowledged record, so when it comes back it is elected again (see [`on_broker_unfenced`]).
//! - A leader change (to -1 included) bumps the leader epoch; every change bumps the partition
//!   epoch; an ISR shrink alone does not bump the leader epoch (it did before 3.6, KAFKA-15021).
//! - A clean election takes the current leader if it is still eligible, else the first eligible
//!   replica in assignment order; eligible means in the (new) ISR and active.
//! - An unclean election (`unclean.leader.election.enable`, or ElectLeaders UNCLEAN) tries a
//!   clean one first, then the first active replica in assignment order; the ISR becomes just
//!   that replica and the leader recovery state `Recovering` (KIP-704).

use crate::cluster::ClusterView;
use crate::error::ControllerError;
use crate::partition::{LeaderRecoveryState, Partition, PartitionChange, NO_LEADER};

/// How to choose a leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// Keep the partition online from the ISR; the preferred replica wins if eligible.
    Preferred,
    /// Keep the partition online from the ISR, keeping the current leader if it is eligible.
    Online,
    /// Like `Online`, then any active replica outside the ISR (may lose acknowledged records).
    Unclean,
}

/// The ElectLeaders (API 43) election types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Wire value 0: move leadership to the preferred replica.
    Preferred,
    /// Wire value 1: give a leaderless partition a leader, even an out-of-sync one.
    Unclean,
}

impl ElectionType {
    /// From the wire value; Kafka answers anything else with INVALID_REQUEST.
    pub fn from_value(value: i8) -> Result<Self, ControllerError> {
        match value {
            0 => Ok(Self::Preferred),
            1 => Ok(Self::Unclean),
            other => Err(ControllerError::InvalidRequest(format!(
                "Unknown election type {other}"
            ))),
        }
    }
}

/// Builds the change to one partition from a target ISR and an election (Kafka's
/// `PartitionChangeBuilder`). `acceptable(r)` says whether broker `r` may lead at all (active,
/// and not the broker being removed).
pub struct ChangeBuilder<'a> {
    partition: &'a Partition,
    acceptable: &'a dyn Fn(i32) -> bool,
    target_isr: Vec<i32>,
    election: Election,
    target_recovery: LeaderRecoveryState,
    target_replicas: Vec<i32>,
    target_adding: Vec<i32>,
    target_removing: Vec<i32>,
}

impl<'a> ChangeBuilder<'a> {
    /// A builder that changes nothing yet: target ISR = current ISR, election `Online`.
    pub fn new(partition: &'a Partition, acceptable: &'a dyn Fn(i32) -> bool) -> Self {
        Self {
            partition,
            acceptable,
            target_isr: partition.isr.clone(),
            election: Election::Online,
            target_recovery: partition.leader_recovery_state,
            target_replicas: partition.replicas.clone(),
            target_adding: partition.adding_replicas.clone(),
            target_removing: partition.removing_replicas.clone(),
        }
    }

    /// The replica set wanted, with the reassignment's adding and removing replicas.
    pub fn target_replicas(
        mut self,
        replicas: Vec<i32>,
        adding: Vec<i32>,
        removing: Vec<i32>,
    ) -> Self {
        self.target_replicas = replicas;
        self.target_adding = adding;
        self.target_removing = removing;
        self
    }

    /// The ISR wanted. An empty target keeps the current ISR (the last-ISR rule).
    pub fn target_isr(mut self, isr: Vec<i32>) -> Self {
        self.target_isr = isr;
        self
    }

    /// The election to run.
    pub fn election(mut self, election: Election) -> Self {
        self.election = election;
        self
    }

    /// The leader recovery state wanted (AlterPartition sets it).
    pub fn leader_recovery_state(mut self, state: LeaderRecoveryState) -> Self {
        self.target_recovery = state;
        self
    }

    fn valid_clean_leader(&self, r: i32) -> bool {
        r != NO_LEADER && self.target_isr.contains(&r) && (self.acceptable)(r)
    }

    /// The new leader and whether it was elected uncleanly.
    fn elect(&self) -> (i32, bool) {
        let p = self.partition;
        let clean = |r: &i32| self.valid_clean_leader(*r);
        if self.election == Election::Preferred {
            let preferred = self.target_replicas.first().copied().unwrap_or(NO_LEADER);
            if self.valid_clean_leader(preferred) {
                return (preferred, false);
            }
        }
        if self.valid_clean_leader(p.leader) {
            return (p.leader, false);
        }
        if let Some(&r) = self.target_replicas.iter().find(|r| clean(r)) {
            return (r, false);
        }
        if self.election == Election::Unclean {
            let acceptable = |r: &&i32| (self.acceptable)(**r);
            if let Some(&r) = self.target_replicas.iter().find(acceptable) {
                return (r, true);
            }
        }
        (NO_LEADER, false)
    }

    /// Kafka's `completeReassignmentIfNeeded`: once every adding replica is in the target
    /// ISR, the replicas become the target and the removing ones leave the ISR (unless that
    /// would empty it: then the reassignment waits).
    fn complete_reassignment(&mut self) {
        if self.target_adding.is_empty() && self.target_removing.is_empty() {
            return;
        }
        if !self
            .target_adding
            .iter()
            .all(|r| self.target_isr.contains(r))
        {
            return;
        }
        let removing = &self.target_removing;
        let isr: Vec<i32> = self
            .target_isr
            .iter()
            .copied()
            .filter(|r| !removing.contains(r))
            .collect();
        if isr.is_empty() {
            return;
        }
        self.target_replicas.retain(|r| !removing.contains(r));
        self.target_isr = isr;
        self.target_adding.clear();
        self.target_removing.clear();
    }

    /// The change, or `None` when nothing would change.
    pub fn build(mut self) -> Option<PartitionChange> {
        self.complete_reassignment();
        let p = self.partition;
        let mut change = PartitionChange::default();
        let (leader, unclean) = self.elect();
        if leader != p.leader {
            change.leader = Some(leader);
            if unclean {
                // The new leader may lack acknowledged records: it alone is in sync with itself.
                // If it is the last adding replica, that completes a reassignment too.
                self.target_isr = vec![leader];
                self.complete_reassignment();
                change.isr = Some(self.target_isr.clone());
                if p.leader_recovery_state != LeaderRecoveryState::Recovering {
                    change.leader_recovery_state = Some(LeaderRecoveryState::Recovering);
                }
            }
        }
        if change.isr.is_none() && !self.target_isr.is_empty() && self.target_isr != p.isr {
            change.isr = Some(self.target_isr);
        }
        if self.target_recovery != p.leader_recovery_state {
            change.leader_recovery_state = Some(self.target_recovery);
        }
        if self.target_replicas != p.replicas {
            // Kafka's `triggerLeaderEpochBumpForReplicaReassignmentIfNeeded`: a replica that
            // leaves must be fenced from the leader, so the leader epoch moves even when the
            // leader stays.
            if change.leader.is_none()
                && !p.replicas.iter().all(|r| self.target_replicas.contains(r))
            {
                change.leader = Some(p.leader);
            }
            change.replicas = Some(self.target_replicas);
        }
        if self.target_adding != p.adding_replicas {
            change.adding_replicas = Some(self.target_adding);
        }
        if self.target_removing != p.removing_replicas {
            change.removing_replicas = Some(self.target_removing);
        }
        (!change.is_empty()).then_some(change)
    }
}

fn election_for(unclean: bool) -> Election {
    if unclean {
        Election::Unclean
    } else {
        Election::Online
    }
}

/// The change to `partition` when `broker` is fenced, enters controlled shutdown or is
/// unregistered: out of the ISR (unless it is the last member) and out of the leadership, to
/// another ISR member if one is active, else offline (or, with `unclean`, to a live out-of-sync
/// replica). `cluster` may still show `broker` as active: it is excluded regardless.
pub fn remove_broker(
    partition: &Partition,
    cluster: &ClusterView,
    broker: i32,
    unclean: bool,
) -> Option<PartitionChange> {
    if !partition.isr.contains(&broker) && partition.leader != broker {
        return None;
    }
    let acceptable = |r: i32| r != broker && cluster.is_active(r);
    let target: Vec<i32> = partition
        .isr
        .iter()
        .copied()
        .filter(|&r| r != broker)
        .collect();
    ChangeBuilder::new(partition, &acceptable)
        .target_isr(target)
        .election(election_for(unclean))
        .build()
}

/// The change to `partition` when `broker` is unfenced: a leaderless partition gets a leader
/// again, typically the returning broker when it was the last ISR member. `cluster` may still
/// show `broker` as fenced: it counts as active regardless.
pub fn on_broker_unfenced(
    partition: &Partition,
    cluster: &ClusterView,
    broker: i32,
    unclean: bool,
) -> Option<PartitionChange> {
    if partition.has_leader() {
        return None;
    }
    let acceptable = |r: i32| r == broker || cluster.is_active(r);
    ChangeBuilder::new(partition, &acceptable)
        .election(election_for(unclean))
        .build()
}

/// ElectLeaders (API 43) for one partition, with Kafka's answers: ELECTION_NOT_NEEDED when the
/// preferred replica already leads (PREFERRED) or a leader exists (UNCLEAN);
/// PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE when no change is possible.
/// When ElectLeaders names no partitions, Kafka runs this on every partition and leaves the
/// ELECTION_NOT_NEEDED ones out of the response.
pub fn elect_leaders(
    partition: &Partition,
    cluster: &ClusterView,
    election_type: ElectionType,
) -> Result<PartitionChange, ControllerError> {
    let not_needed = match election_type {
        ElectionType::Preferred => partition.has_preferred_leader(),
        ElectionType::Unclean => partition.has_leader(),
    };
    if not_needed {
        return Err(ControllerError::ElectionNotNeeded);
    }
    let acceptable = |r: i32| cluster.is_active(r);
    let election = match election_type {
        ElectionType::Preferred => Election::Preferred,
        ElectionType::Unclean => Election::Unclean,
    };
    ChangeBuilder::new(partition, &acceptable)
        .election(election)
        .build()
        .ok_or(match election_type {
            ElectionType::Preferred => ControllerError::PreferredLeaderNotAvailable,
            ElectionType::Unclean => ControllerError::EligibleLeadersNotAvailable,
        })
}

/// Kafka's `maxElectionsPerImbalance`: leader moves per rebalance round.
pub const MAX_ELECTIONS_PER_REBALANCE: usize = 1_000;

/// `auto.leader.rebalance.enable` (every `leader.imbalance.check.interval.seconds`): a preferred
/// election for each partition whose preferred replica does not lead, where that replica is in
/// the ISR and active, at most `max` of them (Kafka's `maybeBalancePartitionLeaders`). The flag
/// says whether the round stopped at `max`, so the caller should run another soon.
pub fn rebalance<'a, K: 'a>(
    cluster: &ClusterView,
    partitions: impl IntoIterator<Item = (K, &'a Partition)>,
    max: usize,
) -> (Vec<(K, PartitionChange)>, bool) {
    let acceptable = |r: i32| cluster.is_active(r);
    let mut changes = Vec::new();
    for (key, p) in partitions {
        if changes.len() >= max {
            return (changes, true);
        }
        if p.has_preferred_leader() {
            continue;
        }
        let change = ChangeBuilder::new(p, &acceptable)
            .election(Election::Preferred)
            .build();
        if let Some(change) = change {
            changes.push((key, change));
        }
    }
    (changes, false)
}

/// Kafka's `maybeElectUncleanLeaders` (run periodically, and worth running when a topic's
/// `unclean.leader.election.enable` is turned on): an UNCLEAN election for each leaderless
/// partition of a topic that allows it, at most `max`. The flag says whether the round stopped
/// at `max`.
pub fn elect_unclean_leaders<'a, K: 'a>(
    cluster: &ClusterView,
    partitions: impl IntoIterator<Item = (K, &'a Partition)>,
    unclean: impl Fn(&K) -> bool,
    max: usize,
) -> (Vec<(K, PartitionChange)>, bool) {
    let mut changes = Vec::new();
    for (key, p) in partitions {
        if changes.len() >= max {
            return (changes, true);
        }
        if p.has_leader() || !unclean(&key) {
            continue;
        }
        if let Ok(change) = elect_leaders(p, cluster, ElectionType::Unclean) {
            changes.push((key, change));
        }
    }
    (changes, false)
}

#[cfg(test)]
mod tests;
