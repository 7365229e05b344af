//! AlterPartition (API 56): a partition leader asks to shrink or expand its ISR. The checks,
//! their order and their error codes are Kafka's `ReplicationControlManager`
//! (`validateAlterPartitionData`, then `PartitionChangeBuilder`).
//!
//! Before calling [`alter_partition`] for each partition, the caller checks the request-level
//! broker epoch with [`crate::ClusterView::check_broker_epoch`] (STALE_BROKER_EPOCH for the whole
//! request) and resolves topic ids or names; an unknown partition is passed as `None`.

use crate::cluster::ClusterView;
use crate::election::{ChangeBuilder, Election};
use crate::error::ControllerError;
use crate::partition::{LeaderRecoveryState, Partition, PartitionChange};

/// One member of the proposed ISR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsrMember {
    /// The replica.
    pub broker_id: i32,
    /// Its broker epoch as the leader knows it (AlterPartition v3+, KIP-903), or -1 to skip the
    /// check (older versions).
    pub broker_epoch: i64,
}

/// One partition of an AlterPartition request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    /// The requesting broker (the request's `broker_id`).
    pub broker_id: i32,
    /// The AlterPartition request version (selects the error code for some refusals).
    pub version: i16,
    /// The leader epoch the leader has.
    pub leader_epoch: i32,
    /// The partition epoch the leader has.
    pub partition_epoch: i32,
    /// The proposed ISR.
    pub new_isr: Vec<IsrMember>,
    /// `leader_recovery_state` wire value (0 recovered, 1 recovering).
    pub leader_recovery_state: i8,
}

/// What to do with an accepted AlterPartition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterPartitionOutcome {
    /// Propose `change` (none if the partition is already as asked) and answer with
    /// `partition`, the state after it (leader, ISR, epochs, recovery state).
    Accepted {
        /// The record to propose, if any.
        change: Option<PartitionChange>,
        /// The partition after `change`, for the response.
        partition: Partition,
    },
    /// Propose `change`, but answer `error` (NEW_LEADER_ELECTED, or FENCED_LEADER_EPOCH before
    /// v2): the change also moved the leadership, so the sender must refresh its metadata.
    LeaderChanged {
        /// The record to propose.
        change: PartitionChange,
        /// The error for this partition in the response.
        error: ControllerError,
    },
}

/// Validates one partition's AlterPartition and builds the change. `unclean` is the topic's
/// `unclean.leader.election.enable`.
pub fn alter_partition(
    partition: Option<&Partition>,
    cluster: &ClusterView,
    request: &AlterPartitionRequest,
    unclean: bool,
) -> Result<AlterPartitionOutcome, ControllerError> {
    let Some(p) = partition else {
        return Err(ControllerError::UnknownTopicOrPartition(
            "This server does not host this topic-partition.".to_string(),
        ));
    };
    let recovery = validate(p, cluster, request)?;
    let acceptable = |r: i32| cluster.is_active(r);
    let isr: Vec<i32> = request.new_isr.iter().map(|m| m.broker_id).collect();
    let election = if unclean {
        Election::Unclean
    } else {
        Election::Online
    };
    let change = ChangeBuilder::new(p, &acceptable)
        .target_isr(isr)
        .election(election)
        .leader_recovery_state(recovery)
        .build();
    match change {
        Some(change) if change.leader.is_some_and(|l| l != request.broker_id) => {
            let error = if request.version > 1 {
                ControllerError::NewLeaderElected
            } else {
                ControllerError::FencedLeaderEpoch
            };
            Ok(AlterPartitionOutcome::LeaderChanged { change, error })
        }
        change => {
            let partition = match &change {
                Some(c) => p.apply(c),
                None => p.clone(),
            };
            Ok(AlterPartitionOutcome::Accepted { change, partition })
        }
    }
}

/// Kafka's `validateAlterPartitionData`, in its order. Returns the requested recovery state.
fn validate(
    p: &Partition,
    cluster: &ClusterView,
    request: &AlterPartitionRequest,
) -> Result<LeaderRecoveryState, ControllerError> {
    // A leader ahead of us means we are probably a deposed controller: let it find the new one.
    if request.leader_epoch > p.leader_epoch || request.partition_epoch > p.partition_epoch {
        return Err(ControllerError::NotController);
    }
    if request.leader_epoch < p.leader_epoch {
        return Err(ControllerError::FencedLeaderEpoch);
    }
    if request.broker_id != p.leader {
        return Err(ControllerError::InvalidRequest(format!(
            "Broker {} is not the leader of this partition; the leader is {}.",
            request.broker_id, p.leader
        )));
    }
    if request.partition_epoch < p.partition_epoch {
        return Err(ControllerError::InvalidUpdateVersion);
    }
    let isr: Vec<i32> = request.new_isr.iter().map(|m| m.broker_id).collect();
    if !isr_is_valid(&p.replicas, &isr) {
        return Err(ControllerError::InvalidRequest(format!(
            "The new ISR {isr:?} is not a set of the replicas {:?}.",
            p.replicas
        )));
    }
    if !isr.contains(&p.leader) {
        return Err(ControllerError::InvalidRequest(format!(
            "The new ISR {isr:?} does not include the leader {}.",
            p.leader
        )));
    }
    let recovery =
        LeaderRecoveryState::from_value(request.leader_recovery_state).ok_or_else(|| {
            ControllerError::InvalidRequest(format!(
                "Unknown leader recovery state {}",
                request.leader_recovery_state
            ))
        })?;
    if recovery == LeaderRecoveryState::Recovering && isr.len() > 1 {
        return Err(ControllerError::InvalidRequest(
            "The ISR may only hold the leader while it recovers from an unclean election."
                .to_string(),
        ));
    }
    if p.leader_recovery_state == LeaderRecoveryState::Recovered
        && recovery == LeaderRecoveryState::Recovering
    {
        return Err(ControllerError::InvalidRequest(
            "The leader recovery state cannot change from RECOVERED to RECOVERING.".to_string(),
        ));
    }
    let ineligible = ineligible_replicas(cluster, &request.new_isr);
    if !ineligible.is_empty() {
        return Err(if request.version > 1 {
            ControllerError::IneligibleReplica(ineligible.join(", "))
        } else {
            ControllerError::OperationNotAttempted
        });
    }
    Ok(recovery)
}

/// Kafka's `Replicas.validateIsr`: members are non-negative, distinct, and replicas.
fn isr_is_valid(replicas: &[i32], isr: &[i32]) -> bool {
    let mut sorted = isr.to_vec();
    sorted.sort_unstable();
    let distinct = sorted.windows(2).all(|w| w[0] != w[1]);
    distinct && isr.iter().all(|r| *r >= 0 && replicas.contains(r))
}

/// Members that may not join an ISR, each with the reason Kafka logs.
fn ineligible_replicas(cluster: &ClusterView, isr: &[IsrMember]) -> Vec<String> {
    isr.iter()
        .filter_map(|m| {
            let why = match cluster.get(m.broker_id) {
                None => "not registered".to_string(),
                Some(b) if b.in_controlled_shutdown => "shutting down".to_string(),
                Some(b) if b.fenced => "fenced".to_string(),
                Some(b) if m.broker_epoch != -1 && m.broker_epoch != b.epoch => format!(
                    "broker epoch mismatch: requested={} VS expected={}",
                    m.broker_epoch, b.epoch
                ),
                Some(_) => return None,
            };
            Some(format!("{} ({why})", m.broker_id))
        })
        .collect()
}

#[cfg(test)]
mod tests;
