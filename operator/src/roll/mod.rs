//! The rolling-upgrade planner: which broker pod to delete next, if any. Pure: the cluster
//! reconcile observes pods and partitions, asks [`next_action`], and performs the answer.
//!
//! The StatefulSet uses `OnDelete`, so a pod moves to the StatefulSet's `updateRevision` only
//! when it is deleted. The rules, in the order they are checked:
//! 1. A pod that is terminating or missing is being replaced: wait for it.
//! 2. A pod that needs a roll and is not Ready is deleted first: it serves nothing, so deleting
//!    it costs no availability, and a crash-looping broker may need exactly this change.
//! 3. A pod on the desired revision that is not Ready is still starting: wait for it.
//! 4. Partitions must be known, with none under-replicated or offline: a broker that came back
//!    must have caught up before the next goes.
//! 5. One broker at a time, lowest ordinal first, the active controller last (each controller
//!    move costs a metadata failover; doing it once, at the end, keeps it to one).
//! 6. The chosen broker goes only if every partition it holds in sync keeps at least
//!    `min.insync.replicas` in-sync replicas without it; otherwise the roll is blocked and the
//!    partitions are named. A single-broker cluster cannot keep anything available through a
//!    restart, so it is rolled regardless (the only way to apply a change to it). For the same
//!    reason a partition with a single replica does not block: it is offline while its broker
//!    restarts whatever the order, and blocking on it would leave the cluster un-upgradable
//!    (its owner chose replication factor 1). A partition with more replicas than that does
//!    block, even when its replication factor equals min.insync.replicas.

pub mod rack;
#[cfg(test)]
mod tests;

use std::fmt;

/// A broker pod as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodState {
    pub name: String,
    /// StatefulSet ordinal, which is also the broker's `node.id`.
    pub ordinal: i32,
    /// The pod's `controller-revision-hash` label.
    pub revision: Option<String>,
    /// The pod's Ready condition.
    pub ready: bool,
    /// The pod has a deletionTimestamp.
    pub terminating: bool,
    /// `fjord.dev/roll=true` on the pod (a Cluster-level request is copied onto every pod
    /// before planning).
    pub roll_requested: bool,
}

/// One partition as Metadata reports it, with its topic's `min.insync.replicas`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub min_insync_replicas: i32,
}

impl PartitionState {
    fn under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }

    fn offline(&self) -> bool {
        self.leader < 0
    }
}

/// What the planner needs to know.
#[derive(Clone, Debug)]
pub struct RollInput<'a> {
    /// Pods of the StatefulSet (any order, may include pods being scaled away).
    pub pods: &'a [PodState],
    /// Brokers the spec asks for: ordinals `0..desired`.
    pub desired: i32,
    /// The StatefulSet's `updateRevision`.
    pub update_revision: &'a str,
    /// Every partition of the cluster; None when the brokers could not be asked.
    pub partitions: Option<&'a [PartitionState]>,
    /// The active controller's node id, if known.
    pub controller: Option<i32>,
}

/// Why the roll is paused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// A pod of this ordinal does not exist (being recreated).
    PodMissing(String),
    /// The pod is shutting down.
    PodTerminating(String),
    /// The pod runs the desired revision but is not Ready yet.
    PodNotReady(String),
    /// The brokers could not report their partitions.
    PartitionsUnknown,
    /// Partitions are under-replicated or offline: replicas are still catching up.
    PartitionsNotInSync {
        under_replicated: usize,
        offline: usize,
    },
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::PodMissing(p) => write!(f, "waiting for pod {p} to be recreated"),
            WaitReason::PodTerminating(p) => write!(f, "waiting for pod {p} to terminate"),
            WaitReason::PodNotReady(p) => write!(f, "waiting for pod {p} to become Ready"),
            WaitReason::PartitionsUnknown => {
                write!(f, "waiting for the brokers to report their partitions")
            }
            WaitReason::PartitionsNotInSync {
                under_replicated,
                offline,
            } => write!(
                f,
                "waiting for replicas to catch up ({under_replicated} partitions under-replicated, {offline} offline)"
            ),
        }
    }
}

/// Why a pod is rolled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollCause {
    /// Its revision is not the StatefulSet's updateRevision.
    OutdatedRevision,
    /// `fjord.dev/roll=true` asked for it.
    Requested,
}

/// A partition named in a blocked roll.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AtRisk {
    pub topic: String,
    pub partition: i32,
    /// In-sync replicas it would keep.
    pub remaining_isr: usize,
    pub min_insync_replicas: i32,
}

impl fmt::Display for AtRisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{} (would keep {} in-sync replicas, min.insync.replicas={})",
            self.topic, self.partition, self.remaining_isr, self.min_insync_replicas
        )
    }
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollAction {
    /// Every pod runs the desired revision and none asked for a roll.
    Done,
    /// Delete this pod now.
    Delete {
        pod: String,
        cause: RollCause,
        /// Pods that need a roll, this one included.
        remaining: usize,
    },
    /// Nothing to do until the reason goes away.
    Wait {
        reason: WaitReason,
        remaining: usize,
    },
    /// The next pod cannot go without taking these partitions below min.insync.replicas.
    Blocked {
        pod: String,
        partitions: Vec<AtRisk>,
        remaining: usize,
    },
}

/// Why `pod` needs a roll, if it does.
pub fn roll_cause(pod: &PodState, update_revision: &str) -> Option<RollCause> {
    if pod.revision.as_deref() != Some(update_revision) {
        Some(RollCause::OutdatedRevision)
    } else if pod.roll_requested {
        Some(RollCause::Requested)
    } else {
        None
    }
}

/// The next step of the roll. See the module documentation for the rules.
pub fn next_action(input: &RollInput<'_>) -> RollAction {
    let mut pods: Vec<&PodState> = input
        .pods
        .iter()
        .filter(|p| p.ordinal >= 0 && p.ordinal < input.desired)
        .collect();
    pods.sort_by_key(|p| p.ordinal);
    let needs: Vec<(&PodState, RollCause)> = pods
        .iter()
        .filter_map(|p| roll_cause(p, input.update_revision).map(|c| (*p, c)))
        .collect();
    let remaining = needs.len();
    if remaining == 0 {
        return RollAction::Done;
    }
    let wait = |reason| RollAction::Wait { reason, remaining };

    // 1. Pods being replaced.
    if let Some(p) = pods.iter().find(|p| p.terminating) {
        return wait(WaitReason::PodTerminating(p.name.clone()));
    }
    if let Some(missing) = (0..input.desired).find(|n| !pods.iter().any(|p| p.ordinal == *n)) {
        return wait(WaitReason::PodMissing(format!("ordinal {missing}")));
    }
    // 2. An unready pod that needs a roll anyway.
    if let Some((p, cause)) = needs.iter().find(|(p, _)| !p.ready) {
        return RollAction::Delete {
            pod: p.name.clone(),
            cause: *cause,
            remaining,
        };
    }
    // 3. A pod on the desired revision still starting.
    if let Some(p) = pods.iter().find(|p| !p.ready) {
        return wait(WaitReason::PodNotReady(p.name.clone()));
    }
    // 4. Every replica caught up.
    let Some(partitions) = input.partitions else {
        return wait(WaitReason::PartitionsUnknown);
    };
    let under_replicated = partitions.iter().filter(|p| p.under_replicated()).count();
    let offline = partitions.iter().filter(|p| p.offline()).count();
    if under_replicated > 0 || offline > 0 {
        return wait(WaitReason::PartitionsNotInSync {
            under_replicated,
            offline,
        });
    }
    // 5. Lowest ordinal first, the controller last.
    let Some((next, cause)) = needs
        .iter()
        .find(|(p, _)| Some(p.ordinal) != input.controller)
        .or_else(|| needs.first())
    else {
        return RollAction::Done;
    };
    // 6. Availability.
    let at_risk = if input.desired <= 1 {
        Vec::new()
    } else {
        at_risk_without(next.ordinal, partitions)
    };
    if !at_risk.is_empty() {
        return RollAction::Blocked {
            pod: next.name.clone(),
            partitions: at_risk,
            remaining,
        };
    }
    RollAction::Delete {
        pod: next.name.clone(),
        cause: *cause,
        remaining,
    }
}

/// Partitions that `broker` holds in sync and that would fall below min.insync.replicas
/// without it (single-replica partitions excepted: see rule 6).
pub fn at_risk_without(broker: i32, partitions: &[PartitionState]) -> Vec<AtRisk> {
    let mut out: Vec<AtRisk> = partitions
        .iter()
        .filter(|p| p.isr.contains(&broker) && p.replicas.len() > 1)
        .filter_map(|p| {
            let remaining = p.isr.iter().filter(|r| **r != broker).count();
            let min = usize::try_from(p.min_insync_replicas.max(1)).unwrap_or(1);
            (remaining < min).then(|| AtRisk {
                topic: p.topic.clone(),
                partition: p.partition,
                remaining_isr: remaining,
                min_insync_replicas: p.min_insync_replicas,
            })
        })
        .collect();
    out.sort();
    out
}
