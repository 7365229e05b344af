//! AlterPartitionReassignments (API 45) for one partition: Kafka's
//! `ReplicationControlManager.changePartitionReassignment` / `cancelPartitionReassignment`,
//! with `PartitionReassignmentReplicas` and `PartitionReassignmentRevert`.
//!
//! A reassignment to `target` runs in three steps, each a partition change:
//! 1. the replicas become the target followed by the current replicas outside it (so the
//!    preferred leader is the target's first), `adding` = target − current and
//!    `removing` = current − target; the ISR is unchanged;
//! 2. the adding replicas fetch as followers and the leader proposes each into the ISR
//!    (AlterPartition) once caught up;
//! 3. the change that puts the last adding replica in the ISR also completes the reassignment
//!    ([`crate::election::ChangeBuilder`]): replicas := target, ISR := ISR ∩ target, a new leader
//!    from the target if the leader was being removed, and the leader epoch bumped so the
//!    removed replicas are fenced.
//!
//! A target that only removes replicas completes in step 1. A null target cancels: the adding
//! replicas are dropped and the original replicas stay. A new target while one is in progress
//! starts from the current (merged) replicas, as Kafka does.

use crate::cluster::ClusterView;
use crate::election::{ChangeBuilder, Election};
use crate::error::ControllerError;
use crate::partition::{Partition, PartitionChange};

/// The change AlterPartitionReassignments makes to `partition` (`None`: the partition does not
/// exist) for `target` (`None`: cancel). `Ok(None)` means nothing changes (the partition is
/// already as asked). `unclean` is the topic's `unclean.leader.election.enable`.
pub fn alter_reassignment(
    partition: Option<&Partition>,
    cluster: &ClusterView,
    target: Option<&[i32]>,
    unclean: bool,
) -> Result<Option<PartitionChange>, ControllerError> {
    let Some(p) = partition else {
        return Err(ControllerError::UnknownTopicOrPartition(
            "Unable to find partition".to_string(),
        ));
    };
    let acceptable = |r: i32| cluster.is_active(r);
    let Some(target) = target else {
        if !p.is_reassigning() {
            return Err(ControllerError::NoReassignmentInProgress);
        }
        let revert = Revert::of(p, cluster);
        let election = if revert.unclean || unclean {
            Election::Unclean
        } else {
            Election::Online
        };
        return Ok(ChangeBuilder::new(p, &acceptable)
            .target_isr(revert.isr)
            .target_replicas(revert.replicas, Vec::new(), Vec::new())
            .election(election)
            .build());
    };
    validate_target(cluster, target)?;
    // As Kafka: a new target replacing an ongoing one is measured from the whole current
    // replica set, so a replica the old plan was adding (possibly the only one in sync) is
    // only removed once the new plan completes.
    let planned = Plan::new(&p.replicas, target);
    let election = if unclean {
        Election::Unclean
    } else {
        Election::Online
    };
    Ok(ChangeBuilder::new(p, &acceptable)
        .target_replicas(planned.replicas, planned.adding, planned.removing)
        .election(election)
        .build())
}

/// Kafka's `validateManualPartitionAssignment` (without a replication factor to match):
/// not empty, every broker registered (fenced ones allowed), none twice.
fn validate_target(cluster: &ClusterView, target: &[i32]) -> Result<(), ControllerError> {
    if target.is_empty() {
        return Err(ControllerError::InvalidReplicaAssignment(
            "The manual partition assignment includes an empty replica list.".to_string(),
        ));
    }
    let mut sorted = target.to_vec();
    sorted.sort_unstable();
    for (i, b) in sorted.iter().enumerate() {
        if !cluster.is_registered(*b) {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered."
            )));
        }
        if i > 0 && sorted[i - 1] == *b {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes the broker {b} more than once."
            )));
        }
    }
    Ok(())
}

/// Kafka's `PartitionReassignmentReplicas`: the replica set during a move from `current` to
/// `target`, and who is added and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    replicas: Vec<i32>,
    adding: Vec<i32>,
    removing: Vec<i32>,
}

impl Plan {
    fn new(current: &[i32], target: &[i32]) -> Plan {
        let removing: Vec<i32> = current
            .iter()
            .copied()
            .filter(|r| !target.contains(r))
            .collect();
        let adding = target
            .iter()
            .copied()
            .filter(|r| !current.contains(r))
            .collect();
        let mut replicas = target.to_vec();
        replicas.extend(&removing);
        Plan {
            replicas,
            adding,
            removing,
        }
    }
}

/// Kafka's `PartitionReassignmentRevert`: the partition as it was before its reassignment (the
/// adding replicas out of the replicas and the ISR). If the ISR held only adding replicas, it
/// becomes the original replicas and the election is unclean; unlike Kafka, only the active
/// ones (or, if none is, the first, as the last ISR member of an offline partition), so no
/// fenced broker is put back in an ISR.
struct Revert {
    replicas: Vec<i32>,
    isr: Vec<i32>,
    unclean: bool,
}

impl Revert {
    fn of(p: &Partition, cluster: &ClusterView) -> Revert {
        let adding = &p.adding_replicas;
        let replicas: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !adding.contains(r))
            .collect();
        let isr: Vec<i32> = p
            .isr
            .iter()
            .copied()
            .filter(|r| !adding.contains(r))
            .collect();
        if isr.is_empty() {
            let mut isr: Vec<i32> = replicas
                .iter()
                .copied()
                .filter(|r| cluster.is_active(*r))
                .collect();
            if isr.is_empty() {
                isr.extend(replicas.first());
            }
            return Revert {
                isr,
                replicas,
                unclean: true,
            };
        }
        Revert {
            replicas,
            isr,
            unclean: false,
        }
    }
}

#[cfg(test)]
mod tests;
