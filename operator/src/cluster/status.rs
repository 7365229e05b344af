//! The Cluster status, computed from what the reconcile observed. Pure, so every condition is
//! unit tested.

use fjord_crds::condition::{DEGRADED, DRAINING, READY, RECONCILING, ROLLING, SCALING_UP};
use fjord_crds::{broker_properties, Cluster, ClusterSpec, ClusterStatus};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::observe::BrokerObservation;
use crate::conditions::{conditions, Cond};
use crate::context::service_bootstrap;
use crate::desired::quorum::QuorumProblem;
use crate::error::Error;
use crate::names::{selector_labels, selector_string};
use crate::roll::{AtRisk, PodState, RollAction, RollCause};
use crate::scale::ScaleState;

/// What happened to the ServiceMonitor in this reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceMonitorState {
    Disabled,
    Applied,
    /// Enabled, but the `monitoring.coreos.com` CRD is not installed.
    CrdMissing,
    /// Enabled, but the operator's RBAC does not cover ServiceMonitors.
    Forbidden,
}

/// A spec the operator refuses to roll out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecProblem {
    /// `spec.config` names properties the broker does not know.
    UnknownBrokerProperties(Vec<String>),
    /// `spec.config` sets properties the operator owns.
    OperatorOwnedBrokerProperties(Vec<String>),
    /// `spec.replicas` does not fit the metadata quorum the brokers run with.
    Quorum(QuorumProblem),
}

impl SpecProblem {
    /// The first problem of `spec`, if any.
    pub fn of(spec: &ClusterSpec) -> Option<SpecProblem> {
        let owned = broker_properties::operator_owned_keys(&spec.config);
        if !owned.is_empty() {
            return Some(SpecProblem::OperatorOwnedBrokerProperties(
                owned.into_iter().map(String::from).collect(),
            ));
        }
        let unknown = broker_properties::unknown_keys(&spec.config);
        if !unknown.is_empty() {
            return Some(SpecProblem::UnknownBrokerProperties(
                unknown.into_iter().map(String::from).collect(),
            ));
        }
        None
    }

    pub fn reason(&self) -> &'static str {
        match self {
            SpecProblem::UnknownBrokerProperties(_) => "UnknownBrokerProperty",
            SpecProblem::OperatorOwnedBrokerProperties(_) => "OperatorOwnedBrokerProperty",
            SpecProblem::Quorum(QuorumProblem::BrokerOnlyNodesUnsupported { .. }) => {
                "BrokerOnlyNodesUnsupported"
            }
            SpecProblem::Quorum(QuorumProblem::WouldRemoveVoters { .. }) => {
                "ScaleDownWouldRemoveVoters"
            }
        }
    }

    pub fn message(&self) -> String {
        match self {
            SpecProblem::UnknownBrokerProperties(k) => {
                format!(
                    "spec.config names properties the broker does not know: {}",
                    k.join(", ")
                )
            }
            SpecProblem::OperatorOwnedBrokerProperties(k) => format!(
                "spec.config sets properties the operator manages: {}",
                k.join(", ")
            ),
            SpecProblem::Quorum(q) => q.message(),
        }
    }
}

/// What a reconcile observed, for [`cluster_status`].
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The applied StatefulSet.
    pub sts: &'a StatefulSet,
    /// The broker pods.
    pub pods: &'a [PodState],
    pub service_monitor: ServiceMonitorState,
    /// Brokers (by ordinal) that did not answer, with why.
    pub unreachable: &'a [(i32, String)],
    /// What the brokers reported; None when none could be asked.
    pub brokers: Option<&'a BrokerObservation>,
    /// The roll planner's decision; None when the StatefulSet has no update revision yet.
    pub roll: Option<&'a RollAction>,
    /// What the drain and balance planners said.
    pub scale: &'a ScaleState,
}

impl Observed<'_> {
    /// Desired pods that are Ready but whose broker does not answer.
    pub fn silent_ready_brokers(&self) -> Vec<i32> {
        self.unreachable
            .iter()
            .filter(|(n, _)| self.pods.iter().any(|p| p.ordinal == *n && p.ready))
            .map(|(n, _)| *n)
            .collect()
    }
}

/// The status after a reconcile that applied the spec.
pub fn cluster_status(cluster: &Cluster, seen: &Observed<'_>, now: &Time) -> ClusterStatus {
    let generation = cluster.metadata.generation;
    let previous = cluster.status.clone().unwrap_or_default();
    let desired = cluster.spec.replicas;
    let sts_status = seen.sts.status.clone().unwrap_or_default();
    let sts_current = seen.sts.metadata.generation.is_some()
        && sts_status.observed_generation == seen.sts.metadata.generation;
    let update_revision = sts_status.update_revision.clone();
    let wanted_pods: Vec<&PodState> = seen
        .pods
        .iter()
        .filter(|p| p.ordinal >= 0 && p.ordinal < desired)
        .collect();
    let existing = wanted_pods.len() as i32;
    let ready = wanted_pods.iter().filter(|p| p.ready).count() as i32;
    let updated = wanted_pods
        .iter()
        .filter(|p| update_revision.is_some() && p.revision == update_revision)
        .count() as i32;
    let mut extra: Vec<i32> = seen
        .pods
        .iter()
        .filter(|p| p.ordinal >= desired)
        .map(|p| p.ordinal)
        .collect();
    extra.sort_unstable();
    let urp = seen.brokers.and_then(BrokerObservation::under_replicated);
    let offline = seen.brokers.and_then(BrokerObservation::offline);
    let silent = seen.silent_ready_brokers();

    // Why the cluster is not Ready, most fundamental first.
    let not_ready: Option<(&'static str, String)> = if !silent.is_empty() {
        Some((
            "BrokersUnreachable",
            unreachable_message(seen.unreachable, &silent),
        ))
    } else if ready < desired {
        Some((
            "BrokersNotReady",
            format!("{ready}/{desired} brokers ready"),
        ))
    } else if !seen.unreachable.is_empty() {
        let all: Vec<i32> = seen.unreachable.iter().map(|(n, _)| *n).collect();
        Some((
            "BrokersUnreachable",
            unreachable_message(seen.unreachable, &all),
        ))
    } else if !sts_current || update_revision.is_none() {
        Some((
            "StatefulSetNotObserved",
            "the StatefulSet controller has not observed the latest StatefulSet yet".into(),
        ))
    } else if updated < desired {
        Some((
            "OutdatedRevision",
            format!(
                "{updated}/{desired} brokers run revision {}",
                update_revision.as_deref().unwrap_or("")
            ),
        ))
    } else if seen.brokers.is_none() || urp.is_none() {
        Some((
            "BrokersUnreachable",
            "no broker reported the cluster's partitions".into(),
        ))
    } else if offline.unwrap_or(0) > 0 {
        Some((
            "OfflinePartitions",
            format!("{} partitions have no leader", offline.unwrap_or(0)),
        ))
    } else if urp.unwrap_or(0) > 0 {
        Some((
            "UnderReplicatedPartitions",
            format!(
                "{} partitions have fewer in-sync replicas than replicas",
                urp.unwrap_or(0)
            ),
        ))
    } else if seen.roll.is_some_and(|r| *r != RollAction::Done) {
        Some(("RollRequested", "a roll was requested by annotation".into()))
    } else {
        None
    };

    let rolling = rolling_condition(seen.roll);
    let scaling_up = if existing < desired {
        Cond::new(
            SCALING_UP,
            true,
            "CreatingBrokers",
            format!("{existing}/{desired} broker pods exist"),
        )
    } else if let ScaleState::Balancing { why, .. } = seen.scale {
        Cond::new(SCALING_UP, true, "RebalancePending", why.clone())
    } else {
        Cond::new(SCALING_UP, false, "AllBrokersCreated", "")
    };
    let draining = if let ScaleState::DrainRefused(refusal) = seen.scale {
        Cond::new(DRAINING, true, "ScaleDownRefused", refusal.to_string())
    } else if let ScaleState::Draining { why, .. } = seen.scale {
        Cond::new(DRAINING, true, "DrainPending", why.clone())
    } else if extra.is_empty() {
        Cond::new(DRAINING, false, "NoBrokersToRemove", "")
    } else {
        Cond::new(
            DRAINING,
            true,
            "RemovingBrokers",
            format!(
                "brokers {} are beyond spec.replicas and are being removed",
                join(&extra)
            ),
        )
    };
    let degraded = degraded_condition(seen, &silent, urp, offline);

    let mut wanted = Vec::new();
    match &not_ready {
        None => {
            let progress = format!("{ready}/{desired} brokers ready, all partitions in sync");
            wanted.push(Cond::new(READY, true, "AllBrokersReady", progress));
            wanted.push(Cond::new(RECONCILING, false, "Reconciled", ""));
        }
        Some((reason, message)) => {
            wanted.push(Cond::new(READY, false, reason, message.clone()));
            wanted.push(Cond::new(RECONCILING, true, reason, message.clone()));
        }
    }
    let phase = if rolling.reason == "RollBlocked" {
        "RollBlocked"
    } else if rolling.status {
        "Rolling"
    } else if scaling_up.status {
        "ScalingUp"
    } else if draining.status {
        "Draining"
    } else if degraded.status {
        "Degraded"
    } else if not_ready.is_none() {
        "Ready"
    } else {
        "Pending"
    };
    wanted.extend([degraded, rolling, scaling_up, draining]);

    let (cluster_id, controller, broker_list) = match seen.brokers {
        Some(b) => (b.cluster_id.clone(), b.controller, b.brokers.clone()),
        None => (previous.cluster_id.clone(), None, Vec::new()),
    };
    ClusterStatus {
        observed_generation: generation,
        conditions: conditions(&wanted, &previous.conditions, generation, now),
        phase: Some(phase.into()),
        desired_brokers: desired,
        updated_brokers: updated,
        replicas: sts_status.replicas,
        ready_brokers: ready,
        selector: Some(selector_string(&selector_labels(cluster))),
        bootstrap_servers: Some(service_bootstrap(cluster)),
        cluster_id,
        brokers: broker_list,
        controller,
        under_replicated_partitions: urp,
        offline_partitions: offline,
        current_revision: sts_status.current_revision,
        update_revision,
        // Set by the reconcile, which knows the quorum.
        quorum_voters: previous.quorum_voters,
    }
}

/// The status when the spec is refused: what was observed before stays (the brokers did not
/// change because the operator declined a spec), the conditions say why nothing is applied.
pub fn refused_status(cluster: &Cluster, problem: &SpecProblem, now: &Time) -> ClusterStatus {
    let previous = cluster.status.clone().unwrap_or_default();
    let was_ready = previous
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True");
    let mut wanted = vec![
        Cond::new(READY, was_ready, problem.reason(), problem.message()),
        Cond::new(
            RECONCILING,
            false,
            problem.reason(),
            "fix the spec to continue",
        ),
        Cond::new(DEGRADED, true, problem.reason(), problem.message()),
    ];
    // Keep the progress conditions as last observed.
    for t in [ROLLING, SCALING_UP, DRAINING] {
        if let Some(c) = previous.conditions.iter().find(|c| c.type_ == t) {
            wanted.push(Cond {
                type_: t,
                status: c.status == "True",
                reason: static_reason(&c.reason),
                message: c.message.clone(),
            });
        }
    }
    ClusterStatus {
        conditions: conditions(
            &wanted,
            &previous.conditions,
            cluster.metadata.generation,
            now,
        ),
        phase: Some("Failed".into()),
        ..previous
    }
}

/// Reasons are static strings in [`Cond`]; a stored reason read back maps onto the known set.
fn static_reason(reason: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "RollingBroker",
        "RollWaiting",
        "RollBlocked",
        "NoRollNeeded",
        "CreatingBrokers",
        "AllBrokersCreated",
        "RemovingBrokers",
        "NoBrokersToRemove",
    ];
    KNOWN
        .iter()
        .find(|k| **k == reason)
        .copied()
        .unwrap_or("Unknown")
}

fn rolling_condition(roll: Option<&RollAction>) -> Cond {
    match roll {
        None | Some(RollAction::Done) => Cond::new(ROLLING, false, "NoRollNeeded", ""),
        Some(RollAction::Delete {
            pod,
            cause,
            remaining,
        }) => Cond::new(
            ROLLING,
            true,
            "RollingBroker",
            format!(
                "restarting pod {pod} ({}); {remaining} brokers left to roll",
                match cause {
                    RollCause::OutdatedRevision => "outdated revision",
                    RollCause::Requested => "fjord.dev/roll requested",
                }
            ),
        ),
        Some(RollAction::Wait { reason, remaining }) => Cond::new(
            ROLLING,
            true,
            "RollWaiting",
            format!("{reason}; {remaining} brokers left to roll"),
        ),
        Some(RollAction::Blocked {
            pod,
            partitions,
            remaining,
        }) => Cond::new(
            ROLLING,
            true,
            "RollBlocked",
            blocked_message(pod, partitions, *remaining),
        ),
    }
}

/// The message of a blocked roll, naming the partitions (the first 20, then a count).
pub fn blocked_message(pod: &str, partitions: &[AtRisk], remaining: usize) -> String {
    const SHOWN: usize = 20;
    let mut names: Vec<String> = partitions
        .iter()
        .take(SHOWN)
        .map(|p| p.to_string())
        .collect();
    if partitions.len() > SHOWN {
        names.push(format!("and {} more", partitions.len() - SHOWN));
    }
    format!(
        "pod {pod} cannot restart: without it these partitions fall below min.insync.replicas: {}; {remaining} brokers left to roll",
        names.join(", ")
    )
}

fn degraded_condition(
    seen: &Observed<'_>,
    silent: &[i32],
    urp: Option<i32>,
    offline: Option<i32>,
) -> Cond {
    if !silent.is_empty() {
        return Cond::new(
            DEGRADED,
            true,
            "BrokersUnreachable",
            unreachable_message(seen.unreachable, silent),
        );
    }
    if let Some(RollAction::Blocked {
        pod,
        partitions,
        remaining,
    }) = seen.roll
    {
        return Cond::new(
            DEGRADED,
            true,
            "RollBlocked",
            blocked_message(pod, partitions, *remaining),
        );
    }
    match (seen.service_monitor, offline, urp) {
        (_, Some(n), _) if n > 0 => Cond::new(
            DEGRADED,
            true,
            "OfflinePartitions",
            format!("{n} partitions have no leader"),
        ),
        (_, _, Some(n)) if n > 0 => Cond::new(
            DEGRADED,
            true,
            "UnderReplicatedPartitions",
            format!("{n} partitions have fewer in-sync replicas than replicas"),
        ),
        (ServiceMonitorState::CrdMissing, _, _) => Cond::new(
            DEGRADED,
            true,
            "ServiceMonitorCRDMissing",
            "metrics.serviceMonitor.enabled is set but the monitoring.coreos.com ServiceMonitor CRD is not installed",
        ),
        (ServiceMonitorState::Forbidden, _, _) => Cond::new(
            DEGRADED,
            true,
            "ServiceMonitorForbidden",
            "metrics.serviceMonitor.enabled is set but the operator may not manage ServiceMonitors (chart value rbac.serviceMonitors)",
        ),
        _ => Cond::new(DEGRADED, false, "AsExpected", ""),
    }
}

/// "brokers 0, 2 do not answer Kafka requests: 0: <why>; 2: <why>".
pub fn unreachable_message(unreachable: &[(i32, String)], which: &[i32]) -> String {
    let why: Vec<String> = unreachable
        .iter()
        .filter(|(n, _)| which.contains(n))
        .map(|(n, e)| format!("{n}: {e}"))
        .collect();
    format!(
        "brokers {} do not answer Kafka requests ({})",
        join(which),
        why.join("; ")
    )
}

fn join(ns: &[i32]) -> String {
    ns.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
}

/// The status after a failed reconcile: what was known before, with Reconciling and Degraded
/// saying why this attempt failed. Every other condition, Ready included, keeps its previous
/// value (a failed API call does not stop brokers).
pub fn failed_status(cluster: &Cluster, error: &Error, now: &Time) -> ClusterStatus {
    let previous = cluster.status.clone().unwrap_or_default();
    let generation = cluster.metadata.generation;
    let failed = [
        Cond::new(RECONCILING, true, "ReconcileFailed", error.to_string()),
        Cond::new(DEGRADED, true, "ReconcileFailed", error.to_string()),
    ];
    let fresh = conditions(&failed, &previous.conditions, generation, now);
    let mut merged: Vec<_> = previous
        .conditions
        .iter()
        .filter(|c| c.type_ != RECONCILING && c.type_ != DEGRADED)
        .cloned()
        .collect();
    if !merged.iter().any(|c| c.type_ == READY) {
        merged.extend(conditions(
            &[Cond::new(
                READY,
                false,
                "ReconcileFailed",
                error.to_string(),
            )],
            &[],
            generation,
            now,
        ));
    }
    merged.extend(fresh);
    ClusterStatus {
        conditions: merged,
        ..previous
    }
}

#[cfg(test)]
mod tests;
