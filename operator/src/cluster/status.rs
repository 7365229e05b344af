//! The Cluster status, computed from what the reconcile observed. Pure, so every condition is
//! unit tested.

use fjord_crds::condition::{DEGRADED, READY, RECONCILING};
use fjord_crds::{broker_properties, Cluster, ClusterSpec, ClusterStatus};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::observe::BrokerObservation;
use crate::conditions::{conditions, Cond};
use crate::context::service_bootstrap;
use crate::error::Error;
use crate::names::{selector_labels, selector_string};

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

    fn reason(&self) -> &'static str {
        match self {
            SpecProblem::UnknownBrokerProperties(_) => "UnknownBrokerProperty",
            SpecProblem::OperatorOwnedBrokerProperties(_) => "OperatorOwnedBrokerProperty",
        }
    }

    fn message(&self) -> String {
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
        }
    }
}

/// The status after a reconcile. `sts` is the applied StatefulSet (None when nothing was
/// applied), `brokers` what the brokers reported (None when they could not be asked).
pub fn cluster_status(
    cluster: &Cluster,
    sts: Option<&StatefulSet>,
    service_monitor: ServiceMonitorState,
    brokers: Option<BrokerObservation>,
    problem: Option<SpecProblem>,
    now: &Time,
) -> ClusterStatus {
    let generation = cluster.metadata.generation;
    let previous = cluster.status.clone().unwrap_or_default();
    let desired = cluster.spec.replicas;
    let sts_status = sts.and_then(|s| s.status.clone()).unwrap_or_default();
    let ready = sts_status.ready_replicas.unwrap_or(0);
    let sts_current = sts.is_some_and(|s| {
        s.metadata.generation.is_some() && sts_status.observed_generation == s.metadata.generation
    });

    let mut wanted = Vec::new();
    if let Some(p) = &problem {
        wanted.push(Cond::new(
            READY,
            ready == desired && ready > 0,
            p.reason(),
            p.message(),
        ));
        wanted.push(Cond::new(
            RECONCILING,
            false,
            p.reason(),
            "fix spec.config to continue",
        ));
        wanted.push(Cond::new(DEGRADED, true, p.reason(), p.message()));
    } else {
        let progress = format!("{ready}/{desired} brokers ready");
        if ready == desired && sts_current {
            wanted.push(Cond::new(READY, true, "AllBrokersReady", progress.clone()));
            wanted.push(Cond::new(RECONCILING, false, "Reconciled", progress));
        } else {
            wanted.push(Cond::new(READY, false, "BrokersNotReady", progress.clone()));
            wanted.push(Cond::new(RECONCILING, true, "WaitingForBrokers", progress));
        }
        let urp = brokers.as_ref().and_then(|b| b.under_replicated_partitions);
        wanted.push(match (service_monitor, urp) {
            (ServiceMonitorState::CrdMissing, _) => Cond::new(
                DEGRADED,
                true,
                "ServiceMonitorCRDMissing",
                "metrics.serviceMonitor.enabled is set but the monitoring.coreos.com ServiceMonitor CRD is not installed",
            ),
            (ServiceMonitorState::Forbidden, _) => Cond::new(
                DEGRADED,
                true,
                "ServiceMonitorForbidden",
                "metrics.serviceMonitor.enabled is set but the operator may not manage ServiceMonitors (chart value rbac.serviceMonitors)",
            ),
            (_, Some(n)) if n > 0 => Cond::new(
                DEGRADED,
                true,
                "UnderReplicatedPartitions",
                format!("{n} partitions have fewer in-sync replicas than replicas"),
            ),
            _ => Cond::new(DEGRADED, false, "AsExpected", ""),
        });
    }

    let (cluster_id, controller, broker_list, urp) = match brokers {
        Some(b) => (
            b.cluster_id,
            b.controller,
            b.brokers,
            b.under_replicated_partitions,
        ),
        None => (previous.cluster_id.clone(), None, Vec::new(), None),
    };
    ClusterStatus {
        observed_generation: if problem.is_none() {
            generation
        } else {
            previous.observed_generation
        },
        conditions: conditions(&wanted, &previous.conditions, generation, now),
        replicas: sts_status.replicas,
        ready_brokers: ready,
        selector: Some(selector_string(&selector_labels(cluster))),
        bootstrap_servers: Some(service_bootstrap(cluster)),
        cluster_id,
        brokers: broker_list,
        controller,
        under_replicated_partitions: urp,
        current_revision: sts_status
            .current_revision
            .or(previous.current_revision.filter(|_| sts.is_none())),
        update_revision: sts_status
            .update_revision
            .or(previous.update_revision.filter(|_| sts.is_none())),
    }
}

/// The status after a failed reconcile: what was known before, with a Degraded condition saying
/// why this attempt failed. Ready keeps its previous value (a failed API call does not stop
/// brokers).
pub fn failed_status(cluster: &Cluster, error: &Error, now: &Time) -> ClusterStatus {
    let previous = cluster.status.clone().unwrap_or_default();
    let mut wanted = Vec::new();
    if let Some(ready) = previous.conditions.iter().find(|c| c.type_ == READY) {
        let reason: &'static str = if ready.status == "True" {
            "AllBrokersReady"
        } else {
            "BrokersNotReady"
        };
        wanted.push(Cond::new(
            READY,
            ready.status == "True",
            reason,
            ready.message.clone(),
        ));
    } else {
        wanted.push(Cond::new(
            READY,
            false,
            "ReconcileFailed",
            error.to_string(),
        ));
    }
    wanted.push(Cond::new(
        RECONCILING,
        true,
        "ReconcileFailed",
        error.to_string(),
    ));
    wanted.push(Cond::new(
        DEGRADED,
        true,
        "ReconcileFailed",
        error.to_string(),
    ));
    ClusterStatus {
        conditions: conditions(
            &wanted,
            &previous.conditions,
            cluster.metadata.generation,
            now,
        ),
        ..previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::condition_status;
    use crate::desired::testing::cluster;
    use fjord_crds::cluster::BrokerStatus;
    use k8s_openapi::api::apps::v1::StatefulSetStatus;

    fn now() -> Time {
        Time(jiff::Timestamp::from_second(1_700_000_000).unwrap())
    }

    fn sts(ready: i32, generation: i64, observed: i64) -> StatefulSet {
        let mut s = StatefulSet::default();
        s.metadata.generation = Some(generation);
        s.status = Some(StatefulSetStatus {
            replicas: 3,
            ready_replicas: Some(ready),
            observed_generation: Some(observed),
            current_revision: Some("events-1".into()),
            update_revision: Some("events-2".into()),
            ..StatefulSetStatus::default()
        });
        s
    }

    fn reason<'a>(s: &'a ClusterStatus, t: &str) -> &'a str {
        &s.conditions.iter().find(|c| c.type_ == t).unwrap().reason
    }

    #[test]
    fn ready_when_every_broker_is_ready_and_the_statefulset_is_current() {
        let c = cluster("version: 0.1.0\n");
        let s = cluster_status(
            &c,
            Some(&sts(3, 2, 2)),
            ServiceMonitorState::Disabled,
            None,
            None,
            &now(),
        );
        assert_eq!(condition_status(&s.conditions, READY), Some("True"));
        assert_eq!(condition_status(&s.conditions, RECONCILING), Some("False"));
        assert_eq!(condition_status(&s.conditions, DEGRADED), Some("False"));
        assert_eq!(s.ready_brokers, 3);
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(s.selector.as_deref(), Some("app.kubernetes.io/component=broker,app.kubernetes.io/instance=events,app.kubernetes.io/name=fjord"));
        assert_eq!(
            s.bootstrap_servers.as_deref(),
            Some("events-bootstrap.streaming.svc:9092")
        );
        assert_eq!(s.update_revision.as_deref(), Some("events-2"));
    }

    #[test]
    fn reconciling_while_brokers_start_or_the_statefulset_lags() {
        let c = cluster("version: 0.1.0\n");
        let s = cluster_status(
            &c,
            Some(&sts(1, 1, 1)),
            ServiceMonitorState::Disabled,
            None,
            None,
            &now(),
        );
        assert_eq!(condition_status(&s.conditions, READY), Some("False"));
        assert_eq!(reason(&s, RECONCILING), "WaitingForBrokers");
        let s = cluster_status(
            &c,
            Some(&sts(3, 2, 1)),
            ServiceMonitorState::Disabled,
            None,
            None,
            &now(),
        );
        assert_eq!(condition_status(&s.conditions, READY), Some("False"));
    }

    #[test]
    fn a_missing_service_monitor_crd_degrades_but_does_not_unready() {
        let c = cluster("version: 0.1.0\n");
        let s = cluster_status(
            &c,
            Some(&sts(3, 1, 1)),
            ServiceMonitorState::CrdMissing,
            None,
            None,
            &now(),
        );
        assert_eq!(condition_status(&s.conditions, READY), Some("True"));
        assert_eq!(reason(&s, DEGRADED), "ServiceMonitorCRDMissing");
    }

    #[test]
    fn broker_facts_come_only_from_the_brokers() {
        let c = cluster("version: 0.1.0\n");
        let s = cluster_status(
            &c,
            Some(&sts(3, 1, 1)),
            ServiceMonitorState::Disabled,
            None,
            None,
            &now(),
        );
        assert_eq!(s.controller, None);
        assert_eq!(s.under_replicated_partitions, None);
        assert!(s.brokers.is_empty());
        let seen = BrokerObservation {
            cluster_id: Some("abc".into()),
            controller: Some(1),
            brokers: vec![BrokerStatus {
                node_id: 1,
                host: "h".into(),
                port: 9092,
                rack: None,
            }],
            under_replicated_partitions: Some(2),
        };
        let s = cluster_status(
            &c,
            Some(&sts(3, 1, 1)),
            ServiceMonitorState::Disabled,
            Some(seen),
            None,
            &now(),
        );
        assert_eq!(s.controller, Some(1));
        assert_eq!(s.under_replicated_partitions, Some(2));
        assert_eq!(reason(&s, DEGRADED), "UnderReplicatedPartitions");
    }

    #[test]
    fn unknown_and_operator_owned_properties_are_refused() {
        let c = cluster("version: 0.1.0\nconfig: {num.partition: '3'}\n");
        let p = SpecProblem::of(&c.spec).unwrap();
        assert_eq!(
            p,
            SpecProblem::UnknownBrokerProperties(vec!["num.partition".into()])
        );
        let s = cluster_status(
            &c,
            None,
            ServiceMonitorState::Disabled,
            None,
            Some(p),
            &now(),
        );
        assert_eq!(reason(&s, DEGRADED), "UnknownBrokerProperty");
        assert!(s.conditions[2].message.contains("num.partition"));
        assert_eq!(
            s.observed_generation, None,
            "a refused spec is not observed"
        );
        let c = cluster("version: 0.1.0\nconfig: {node.id: '3'}\n");
        assert_eq!(
            SpecProblem::of(&c.spec),
            Some(SpecProblem::OperatorOwnedBrokerProperties(vec![
                "node.id".into()
            ]))
        );
        assert_eq!(SpecProblem::of(&cluster("version: 0.1.0\n").spec), None);
    }

    #[test]
    fn a_failed_reconcile_keeps_what_was_known() {
        let mut c = cluster("version: 0.1.0\n");
        let ok = cluster_status(
            &c,
            Some(&sts(3, 1, 1)),
            ServiceMonitorState::Disabled,
            None,
            None,
            &now(),
        );
        c.status = Some(ok);
        let s = failed_status(&c, &Error::MissingObjectKey("uid"), &now());
        assert_eq!(s.ready_brokers, 3);
        assert_eq!(condition_status(&s.conditions, READY), Some("True"));
        assert_eq!(reason(&s, DEGRADED), "ReconcileFailed");
    }
}
