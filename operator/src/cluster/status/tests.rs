use super::*;
use crate::conditions::condition_status;
use crate::desired::testing::cluster;
use crate::roll::{PartitionState, WaitReason};
use crate::scale::ScaleState;
use fjord_crds::cluster::BrokerStatus;
use k8s_openapi::api::apps::v1::StatefulSetStatus;

fn now() -> Time {
    Time(jiff::Timestamp::from_second(1_700_000_000).unwrap())
}

fn sts(generation: i64, observed: i64) -> StatefulSet {
    let mut s = StatefulSet::default();
    s.metadata.generation = Some(generation);
    s.status = Some(StatefulSetStatus {
        replicas: 3,
        ready_replicas: Some(3),
        observed_generation: Some(observed),
        current_revision: Some("events-1".into()),
        update_revision: Some("events-2".into()),
        ..StatefulSetStatus::default()
    });
    s
}

fn pods(ready: usize, revision: &str) -> Vec<PodState> {
    (0..3)
        .map(|n| PodState {
            name: format!("events-{n}"),
            ordinal: n,
            revision: Some(revision.into()),
            ready: (n as usize) < ready,
            terminating: false,
            roll_requested: false,
        })
        .collect()
}

fn brokers(isr: &[i32], leader: i32) -> BrokerObservation {
    BrokerObservation {
        cluster_id: Some("abc".into()),
        controller: Some(1),
        brokers: vec![BrokerStatus {
            node_id: 1,
            host: "h".into(),
            port: 9092,
            rack: None,
        }],
        partitions: Some(vec![PartitionState {
            topic: "orders".into(),
            partition: 0,
            leader,
            replicas: vec![0, 1, 2],
            isr: isr.to_vec(),
            min_insync_replicas: 2,
        }]),
    }
}

fn healthy() -> BrokerObservation {
    brokers(&[0, 1, 2], 0)
}

fn observed<'a>(
    sts: &'a StatefulSet,
    pods: &'a [PodState],
    unreachable: &'a [(i32, String)],
    brokers: Option<&'a BrokerObservation>,
    roll: Option<&'a RollAction>,
) -> Observed<'a> {
    Observed {
        sts,
        pods,
        service_monitor: ServiceMonitorState::Disabled,
        unreachable,
        brokers,
        roll,
        scale: &STEADY,
    }
}

static STEADY: ScaleState = ScaleState::Steady;

fn cond<'a>(s: &'a ClusterStatus, t: &str) -> (&'a str, &'a str, &'a str) {
    let c = s.conditions.iter().find(|c| c.type_ == t).unwrap();
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

#[test]
fn ready_only_when_every_broker_answers_runs_the_update_revision_and_partitions_are_in_sync() {
    let c = cluster("version: 0.1.0\n");
    let s = sts(2, 2);
    let p = pods(3, "events-2");
    let b = healthy();
    let st = cluster_status(
        &c,
        &observed(&s, &p, &[], Some(&b), Some(&RollAction::Done)),
        &now(),
    );
    assert_eq!(condition_status(&st.conditions, READY), Some("True"));
    assert_eq!(condition_status(&st.conditions, RECONCILING), Some("False"));
    assert_eq!(condition_status(&st.conditions, DEGRADED), Some("False"));
    assert_eq!(condition_status(&st.conditions, ROLLING), Some("False"));
    assert_eq!(st.phase.as_deref(), Some("Ready"));
    assert_eq!(
        (st.ready_brokers, st.desired_brokers, st.updated_brokers),
        (3, 3, 3)
    );
    assert_eq!(st.controller, Some(1));
    assert_eq!(st.under_replicated_partitions, Some(0));
    assert_eq!(st.offline_partitions, Some(0));
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(
        st.bootstrap_servers.as_deref(),
        Some("events-bootstrap.streaming.svc:9092")
    );
}

#[test]
fn unreachable_brokers_with_ready_pods_make_the_cluster_unready_naming_them() {
    let c = cluster("version: 0.1.0\n");
    let s = sts(2, 2);
    let p = pods(3, "events-2");
    let down = [
        (0, "connection refused".to_string()),
        (2, "timed out".to_string()),
    ];
    let st = cluster_status(&c, &observed(&s, &p, &down, None, None), &now());
    let (status, reason, message) = cond(&st, READY);
    assert_eq!((status, reason), ("False", "BrokersUnreachable"));
    assert!(message.contains("brokers 0, 2 do not answer"), "{message}");
    assert!(message.contains("connection refused"), "{message}");
    assert_eq!(cond(&st, DEGRADED).1, "BrokersUnreachable");
    assert_eq!(st.controller, None, "not invented without brokers");
    assert_eq!(st.under_replicated_partitions, None);
}

#[test]
fn pods_on_an_old_revision_are_not_ready_although_every_probe_passes() {
    let c = cluster("version: 0.1.0\n");
    let s = sts(2, 2);
    let p = pods(3, "events-1");
    let b = healthy();
    let wait = RollAction::Wait {
        reason: WaitReason::PartitionsUnknown,
        remaining: 3,
    };
    let st = cluster_status(&c, &observed(&s, &p, &[], Some(&b), Some(&wait)), &now());
    let (status, reason, message) = cond(&st, READY);
    assert_eq!((status, reason), ("False", "OutdatedRevision"));
    assert_eq!(message, "0/3 brokers run revision events-2");
    assert_eq!(cond(&st, ROLLING).0, "True");
    assert_eq!(cond(&st, ROLLING).1, "RollWaiting");
    assert_eq!(st.phase.as_deref(), Some("Rolling"));
    assert_eq!(st.updated_brokers, 0);
}

#[test]
fn under_replicated_or_offline_partitions_make_the_cluster_unready_and_degraded() {
    let c = cluster("version: 0.1.0\n");
    let s = sts(2, 2);
    let p = pods(3, "events-2");
    let lagging = brokers(&[0, 1], 0);
    let st = cluster_status(&c, &observed(&s, &p, &[], Some(&lagging), None), &now());
    assert_eq!(cond(&st, READY).1, "UnderReplicatedPartitions");
    assert_eq!(cond(&st, DEGRADED).1, "UnderReplicatedPartitions");
    assert_eq!(st.under_replicated_partitions, Some(1));
    let offline = brokers(&[], -1);
    let st = cluster_status(&c, &observed(&s, &p, &[], Some(&offline), None), &now());
    assert_eq!(cond(&st, READY).1, "OfflinePartitions");
    assert_eq!(st.offline_partitions, Some(1));
}

#[test]
fn a_blocked_roll_names_the_partitions_in_rolling_and_degraded() {
    let c = cluster("version: 0.1.0\n");
    let s = sts(2, 2);
    let p = pods(3, "events-1");
    let b = healthy();
    let blocked = RollAction::Blocked {
        pod: "events-0".into(),
        partitions: vec![AtRisk {
            topic: "payments".into(),
            partition: 3,
            remaining_isr: 1,
            min_insync_replicas: 2,
        }],
        remaining: 3,
    };
    let st = cluster_status(&c, &observed(&s, &p, &[], Some(&b), Some(&blocked)), &now());
    let (status, reason, message) = cond(&st, ROLLING);
    assert_eq!((status, reason), ("True", "RollBlocked"));
    assert!(message.contains("payments-3"), "{message}");
    assert!(message.contains("min.insync.replicas=2"), "{message}");
    assert_eq!(cond(&st, DEGRADED).1, "RollBlocked");
    assert_eq!(st.phase.as_deref(), Some("RollBlocked"));
}

#[test]
fn missing_pods_are_scaling_up_and_extra_pods_are_draining() {
    let c = cluster("version: 0.1.0\n");
    let s = sts(2, 2);
    let p: Vec<PodState> = pods(3, "events-2").into_iter().take(1).collect();
    let st = cluster_status(&c, &observed(&s, &p, &[], None, None), &now());
    assert_eq!(
        cond(&st, SCALING_UP),
        ("True", "CreatingBrokers", "1/3 broker pods exist")
    );
    assert_eq!(st.phase.as_deref(), Some("ScalingUp"));

    let mut p = pods(3, "events-2");
    p.push(PodState {
        name: "events-3".into(),
        ordinal: 3,
        revision: Some("events-2".into()),
        ready: true,
        terminating: false,
        roll_requested: false,
    });
    let b = healthy();
    let st = cluster_status(&c, &observed(&s, &p, &[], Some(&b), None), &now());
    assert_eq!(cond(&st, DRAINING).0, "True");
    assert!(cond(&st, DRAINING).2.contains("brokers 3 are beyond"));
    assert_eq!(st.phase.as_deref(), Some("Draining"));
}

#[test]
fn a_statefulset_the_controller_has_not_observed_is_not_ready() {
    let c = cluster("version: 0.1.0\n");
    let s = sts(3, 2);
    let p = pods(3, "events-2");
    let b = healthy();
    let st = cluster_status(&c, &observed(&s, &p, &[], Some(&b), None), &now());
    assert_eq!(cond(&st, READY).1, "StatefulSetNotObserved");
}

#[test]
fn a_missing_service_monitor_crd_degrades_but_does_not_unready() {
    let c = cluster("version: 0.1.0\n");
    let s = sts(2, 2);
    let p = pods(3, "events-2");
    let b = healthy();
    let mut o = observed(&s, &p, &[], Some(&b), None);
    o.service_monitor = ServiceMonitorState::CrdMissing;
    let st = cluster_status(&c, &o, &now());
    assert_eq!(condition_status(&st.conditions, READY), Some("True"));
    assert_eq!(cond(&st, DEGRADED).1, "ServiceMonitorCRDMissing");
}

#[test]
fn unknown_and_operator_owned_properties_are_refused() {
    let c = cluster("version: 0.1.0\nconfig: {num.partition: '3'}\n");
    let p = SpecProblem::of(&c.spec).unwrap();
    assert_eq!(
        p,
        SpecProblem::UnknownBrokerProperties(vec!["num.partition".into()])
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
fn a_refused_spec_keeps_everything_observed_before() {
    let mut c = cluster("version: 0.1.0\n");
    let s = sts(2, 2);
    let p = pods(3, "events-2");
    let b = healthy();
    c.status = Some(cluster_status(
        &c,
        &observed(&s, &p, &[], Some(&b), Some(&RollAction::Done)),
        &now(),
    ));
    c.metadata.generation = Some(2);
    c.spec.config.insert("num.partition".into(), "3".into());
    let problem = SpecProblem::of(&c.spec).unwrap();
    let st = refused_status(&c, &problem, &now());
    assert_eq!(st.ready_brokers, 3, "readyBrokers is not erased");
    assert_eq!(st.replicas, 3);
    assert_eq!(st.controller, Some(1));
    assert_eq!(st.under_replicated_partitions, Some(0));
    assert_eq!(
        st.observed_generation,
        Some(1),
        "a refused spec is not observed"
    );
    assert_eq!(cond(&st, DEGRADED).1, "UnknownBrokerProperty");
    assert!(cond(&st, DEGRADED).2.contains("num.partition"));
    assert_eq!(cond(&st, READY).0, "True", "the brokers still serve");
    assert_eq!(
        cond(&st, ROLLING).1,
        "NoRollNeeded",
        "progress conditions stay"
    );
    assert_eq!(st.phase.as_deref(), Some("Failed"));
}

#[test]
fn a_failed_reconcile_keeps_what_was_known() {
    let mut c = cluster("version: 0.1.0\n");
    let s = sts(2, 2);
    let p = pods(3, "events-2");
    let b = healthy();
    c.status = Some(cluster_status(
        &c,
        &observed(&s, &p, &[], Some(&b), Some(&RollAction::Done)),
        &now(),
    ));
    let st = failed_status(&c, &Error::MissingObjectKey("uid"), &now());
    assert_eq!(st.ready_brokers, 3);
    assert_eq!(condition_status(&st.conditions, READY), Some("True"));
    assert_eq!(cond(&st, DEGRADED).1, "ReconcileFailed");
    assert_eq!(cond(&st, ROLLING).1, "NoRollNeeded");
}

#[test]
fn a_refused_scale_down_is_a_draining_condition_naming_the_topics() {
    let c = cluster("version: 0.1.0\n");
    let sts = sts(2, 2);
    let pods = pods(3, "events-2");
    let b = healthy();
    let refusal = crate::scale::drain::check_scale_down(
        &[PartitionState {
            topic: "orders".into(),
            partition: 0,
            leader: 0,
            replicas: vec![0, 1, 2],
            isr: vec![0, 1, 2],
            min_insync_replicas: 2,
        }],
        2,
    )
    .unwrap();
    let scale = ScaleState::DrainRefused(refusal);
    let mut seen = observed(&sts, &pods, &[], Some(&b), None);
    seen.scale = &scale;
    let st = cluster_status(&c, &seen, &now());
    let (status, reason, message) = cond(&st, DRAINING);
    assert_eq!((status, reason), ("True", "ScaleDownRefused"));
    assert!(
        message.contains("orders (replication factor 3)"),
        "{message}"
    );
}
