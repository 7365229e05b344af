//! A partition's replication state as the controller records it (Kafka's `PartitionRegistration`)
//! and the change the controller proposes to it (Kafka's `PartitionChangeRecord`).

/// Leader id meaning "no leader": the partition is offline.
pub const NO_LEADER: i32 = -1;

/// Whether the leader's log may be missing acknowledged records (KIP-704): an unclean election
/// sets `Recovering` until the new leader has rebuilt its state and says so with AlterPartition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeaderRecoveryState {
    /// The leader's log holds everything acknowledged (wire value 0).
    #[default]
    Recovered,
    /// Elected uncleanly and not yet recovered (wire value 1).
    Recovering,
}

impl LeaderRecoveryState {
    /// The value on the wire (AlterPartition, PartitionChangeRecord).
    pub fn value(self) -> i8 {
        match self {
            Self::Recovered => 0,
            Self::Recovering => 1,
        }
    }

    /// From the wire value; `None` for anything but 0 and 1.
    pub fn from_value(value: i8) -> Option<Self> {
        match value {
            0 => Some(Self::Recovered),
            1 => Some(Self::Recovering),
            _ => None,
        }
    }
}

/// One partition's replicas, ISR, leader and epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Assigned replicas; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// In-sync replicas, a subset of `replicas`. Never emptied (see [`crate::election`]).
    pub isr: Vec<i32>,
    /// The leader, or [`NO_LEADER`].
    pub leader: i32,
    /// Bumped on every leader change, including to and from [`NO_LEADER`].
    pub leader_epoch: i32,
    /// Bumped on every change of any kind; guards AlterPartition against stale requests.
    pub partition_epoch: i32,
    /// See [`LeaderRecoveryState`].
    pub leader_recovery_state: LeaderRecoveryState,
    /// Replicas an ongoing reassignment adds (Kafka's `addingReplicas`): in `replicas`, not
    /// yet in sync. Empty when no reassignment is in progress.
    pub adding_replicas: Vec<i32>,
    /// Replicas an ongoing reassignment removes once the adding ones are in sync (Kafka's
    /// `removingReplicas`); still in `replicas` until then.
    pub removing_replicas: Vec<i32>,
}

impl Partition {
    /// A new partition as Kafka registers one at creation: the ISR is given (the active
    /// replicas), the leader is its first member, both epochs are 0.
    pub fn new(replicas: Vec<i32>, isr: Vec<i32>) -> Self {
        let leader = isr.first().copied().unwrap_or(NO_LEADER);
        Self {
            replicas,
            isr,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            leader_recovery_state: LeaderRecoveryState::Recovered,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    /// Whether a reassignment is in progress (Kafka's `isReassignmentInProgress`).
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The first assigned replica, or [`NO_LEADER`] if there are none.
    pub fn preferred_leader(&self) -> i32 {
        self.replicas.first().copied().unwrap_or(NO_LEADER)
    }

    /// Whether the partition has a leader.
    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }

    /// Whether the preferred replica leads.
    pub fn has_preferred_leader(&self) -> bool {
        self.leader == self.preferred_leader()
    }

    /// The state after `change`, with Kafka's epoch rules: any change bumps the partition epoch;
    /// setting the leader field (even to the same broker, or to [`NO_LEADER`]) bumps the leader
    /// epoch.
    pub fn apply(&self, change: &PartitionChange) -> Partition {
        let mut next = self.clone();
        if let Some(isr) = &change.isr {
            next.isr = isr.clone();
        }
        if let Some(leader) = change.leader {
            next.leader = leader;
            next.leader_epoch = self.leader_epoch.saturating_add(1);
        }
        if let Some(state) = change.leader_recovery_state {
            next.leader_recovery_state = state;
        }
        if let Some(replicas) = &change.replicas {
            next.replicas = replicas.clone();
        }
        if let Some(adding) = &change.adding_replicas {
            next.adding_replicas = adding.clone();
        }
        if let Some(removing) = &change.removing_replicas {
            next.removing_replicas = removing.clone();
        }
        next.partition_epoch = self.partition_epoch.saturating_add(1);
        next
    }
}

/// A change to one partition: the fields of a PartitionChangeRecord this crate produces. `None`
/// means "unchanged". A change is never empty: builders return `Option<PartitionChange>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionChange {
    /// New leader ([`NO_LEADER`] to take the partition offline).
    pub leader: Option<i32>,
    /// New ISR.
    pub isr: Option<Vec<i32>>,
    /// New leader recovery state.
    pub leader_recovery_state: Option<LeaderRecoveryState>,
    /// New replica set (reassignment).
    pub replicas: Option<Vec<i32>>,
    /// New adding replicas (reassignment).
    pub adding_replicas: Option<Vec<i32>>,
    /// New removing replicas (reassignment).
    pub removing_replicas: Option<Vec<i32>>,
}

impl PartitionChange {
    /// Whether the change sets nothing (Kafka drops such records).
    pub fn is_empty(&self) -> bool {
        self.leader.is_none()
            && self.isr.is_none()
            && self.leader_recovery_state.is_none()
            && self.replicas.is_none()
            && self.adding_replicas.is_none()
            && self.removing_replicas.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_partition_is_led_by_the_first_isr_member_at_epoch_zero() {
        let p = Partition::new(vec![3, 1, 2], vec![1, 2]);
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (1, 0, 0));
        assert_eq!(Partition::new(vec![1], vec![]).leader, NO_LEADER);
    }

    #[test]
    fn an_isr_change_bumps_only_the_partition_epoch() {
        let p = Partition::new(vec![1, 2], vec![1, 2]);
        let next = p.apply(&PartitionChange {
            isr: Some(vec![1]),
            ..Default::default()
        });
        assert_eq!((next.leader_epoch, next.partition_epoch), (0, 1));
    }

    #[test]
    fn going_offline_bumps_the_leader_epoch_too() {
        let p = Partition::new(vec![1, 2], vec![1]);
        let next = p.apply(&PartitionChange {
            leader: Some(NO_LEADER),
            ..Default::default()
        });
        assert_eq!(
            (next.leader, next.leader_epoch, next.partition_epoch),
            (NO_LEADER, 1, 1)
        );
    }
}
