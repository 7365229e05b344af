//! The Cluster controller against the in-process fake API server.

mod support;

use std::sync::Arc;

use fjord_crds::Cluster;
use fjord_operator::context::Context;
use fjord_operator::run;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use support::fake_apiserver::FakeApiServer;
use support::{context, eventually};

const NS: &str = "streaming";
const CONFIGMAPS: &str = "/api/v1/configmaps";
const SERVICES: &str = "/api/v1/services";
const STATEFULSETS: &str = "/apis/apps/v1/statefulsets";
const PDBS: &str = "/apis/policy/v1/poddisruptionbudgets";
const CLUSTERS: &str = "/apis/fjord.dev/v1alpha1/clusters";
const SERVICEMONITORS: &str = "/apis/monitoring.coreos.com/v1/servicemonitors";

async fn start(server: &FakeApiServer, spec: Value) -> (Api<Cluster>, tokio::task::JoinHandle<()>) {
    let (clusters, task, _) = start_with(server, spec, "127.0.0.1:1").await;
    (clusters, task)
}

/// Creates Cluster `events` with `spec` and runs the controllers, reaching every broker at
/// `bootstrap`.
async fn start_with(
    server: &FakeApiServer,
    spec: Value,
    bootstrap: &str,
) -> (Api<Cluster>, tokio::task::JoinHandle<()>, Arc<Context>) {
    let client = server.client();
    let clusters: Api<Cluster> = Api::namespaced(client.clone(), NS);
    let cluster: Cluster = serde_json::from_value(json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Cluster",
        "metadata": { "name": "events", "namespace": NS },
        "spec": spec,
    }))
    .unwrap();
    clusters
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
    // Nothing listens on port 1: broker observation fails fast, as with brokers still starting.
    let ctx = context(client.clone(), bootstrap.into());
    let c = ctx.clone();
    let task = tokio::spawn(async move { run::controllers(client, &[NS.to_string()], c).await });
    (clusters, task, ctx)
}

fn status_of(server: &FakeApiServer) -> Value {
    server.get(CLUSTERS, NS, "events").unwrap()["status"].clone()
}

fn condition(status: &Value, type_: &str) -> Option<(String, String)> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").into(),
                c["reason"].as_str().unwrap_or("").into(),
            )
        })
}

#[tokio::test]
async fn creating_a_cluster_creates_every_object_owned_by_it() {
    let server = FakeApiServer::new();
    let (_clusters, task) = start(&server, json!({"version": "0.1.0"})).await;
    let uid = server.get(CLUSTERS, NS, "events").unwrap()["metadata"]["uid"].clone();

    let expected = [
        (CONFIGMAPS, "events-config"),
        (SERVICES, "events-brokers"),
        (SERVICES, "events-bootstrap"),
        (STATEFULSETS, "events"),
        (PDBS, "events"),
    ];
    for (resource, name) in expected {
        let obj = eventually(name, || server.get(resource, NS, name)).await;
        let owners = obj["metadata"]["ownerReferences"].as_array().unwrap();
        assert_eq!(owners.len(), 1, "{name}");
        assert_eq!(owners[0]["uid"], uid, "{name}");
        assert_eq!(owners[0]["kind"], "Cluster");
        assert_eq!(owners[0]["controller"], true);
        assert_eq!(owners[0]["blockOwnerDeletion"], true, "{name}");
        let managers: Vec<_> = obj["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["manager"].as_str().unwrap().to_string(),
                    m["operation"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            managers,
            [("fjord-operator".to_string(), "Apply".to_string())],
            "{name}"
        );
    }
    assert!(server.names(SERVICEMONITORS, NS).is_empty());

    let status = eventually("status", || {
        let s = status_of(&server);
        (s["observedGeneration"] == 1).then_some(s)
    })
    .await;
    assert_eq!(
        condition(&status, "Ready"),
        Some(("False".into(), "BrokersNotReady".into()))
    );
    assert_eq!(
        condition(&status, "Reconciling"),
        Some(("True".into(), "BrokersNotReady".into()))
    );
    assert_eq!(
        status["bootstrapServers"],
        "events-bootstrap.streaming.svc:9092"
    );
    assert!(
        status.get("underReplicatedPartitions").is_none(),
        "not invented without brokers"
    );

    task.abort();
}

#[tokio::test]
async fn changing_the_spec_updates_objects_and_advances_observed_generation() {
    let server = FakeApiServer::new();
    let (clusters, task) = start(&server, json!({"version": "0.1.0"})).await;
    eventually("first status", || {
        (status_of(&server)["observedGeneration"] == 1).then_some(())
    })
    .await;
    let rv_before =
        server.get(STATEFULSETS, NS, "events").unwrap()["metadata"]["resourceVersion"].clone();

    clusters
        .patch(
            "events",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"config": {"num.partitions": "12"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        server.get(CLUSTERS, NS, "events").unwrap()["metadata"]["generation"],
        2
    );

    let cm = eventually("new config rendered", || {
        server.get(CONFIGMAPS, NS, "events-config").filter(|cm| {
            cm["data"]["events-2.properties"]
                .as_str()
                .is_some_and(|p| p.contains("num.partitions=12\n"))
        })
    })
    .await;
    let sts = server.get(STATEFULSETS, NS, "events").unwrap();
    assert_ne!(sts["metadata"]["resourceVersion"], rv_before);
    let props = cm["data"]["events-0.properties"].as_str().unwrap();
    assert!(
        props.contains(
            "controller.quorum.voters=0@events-0.events-brokers.streaming.svc:9093,\
             1@events-1.events-brokers.streaming.svc:9093,\
             2@events-2.events-brokers.streaming.svc:9093\n"
        ),
        "{props}"
    );
    eventually("observedGeneration 2", || {
        (status_of(&server)["observedGeneration"] == 2).then_some(())
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn unknown_broker_properties_are_refused_with_a_condition() {
    let server = FakeApiServer::new();
    let (_c, task) = start(
        &server,
        json!({"version": "0.1.0", "config": {"num.partition": "3"}}),
    )
    .await;
    let status = eventually("Degraded", || {
        let s = status_of(&server);
        condition(&s, "Degraded").is_some().then_some(s)
    })
    .await;
    assert_eq!(
        condition(&status, "Degraded"),
        Some(("True".into(), "UnknownBrokerProperty".into()))
    );
    assert!(
        server.get(STATEFULSETS, NS, "events").is_none(),
        "nothing rolled out"
    );
    task.abort();
}

/// Issue 12: "Scaling 3 -> 5 rewrites controller.quorum.voters for every broker". The voters
/// stay 0, 1, 2; while fjord-broker runs no broker-only nodes the scale is refused, and the
/// StatefulSet and every broker's file stay as they were.
#[tokio::test]
async fn scaling_three_to_five_never_rewrites_the_voters_of_existing_brokers() {
    let server = FakeApiServer::new();
    let (clusters, task) = start(&server, json!({"version": "0.1.0", "replicas": 3})).await;
    eventually("first status", || {
        (status_of(&server)["observedGeneration"] == 1).then_some(())
    })
    .await;
    let before = server.get(CONFIGMAPS, NS, "events-config").unwrap()["data"].clone();
    clusters
        .patch(
            "events",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    // Refused (Degraded) while broker-only nodes are missing; else scaled (a fifth file).
    eventually("the scale handled", || {
        let s = status_of(&server);
        let cm = server.get(CONFIGMAPS, NS, "events-config")?;
        (condition(&s, "Degraded").is_some_and(|d| d.0 == "True")
            || cm["data"]["events-4.properties"].is_string())
        .then_some(())
    })
    .await;
    let after = server.get(CONFIGMAPS, NS, "events-config").unwrap()["data"].clone();
    for n in 0..3 {
        let key = format!("events-{n}.properties");
        assert_eq!(after[&key], before[&key], "{key} was rewritten");
        assert!(!after[&key].as_str().unwrap().contains("3@"), "{key}");
    }
    if fjord_operator::desired::quorum::BROKER_ONLY_NODES {
        assert!(after["events-4.properties"]
            .as_str()
            .unwrap()
            .contains("process.roles=broker\n"));
    } else {
        let status = status_of(&server);
        assert_eq!(
            condition(&status, "Degraded"),
            Some(("True".into(), "BrokerOnlyNodesUnsupported".into()))
        );
        assert_eq!(
            server.get(STATEFULSETS, NS, "events").unwrap()["spec"]["replicas"],
            3,
            "nothing scaled"
        );
    }
    task.abort();
}

#[tokio::test]
async fn a_missing_service_monitor_crd_is_a_condition_not_a_failure() {
    let server = FakeApiServer::new();
    let spec = json!({"version": "0.1.0", "metrics": {"serviceMonitor": {"enabled": true}}});
    let (_c, task) = start(&server, spec).await;
    let status = eventually("Degraded", || {
        let s = status_of(&server);
        condition(&s, "Degraded")
            .filter(|c| c.1 == "ServiceMonitorCRDMissing")
            .map(|_| s)
    })
    .await;
    assert_eq!(status["observedGeneration"], 1);
    assert!(server.get(STATEFULSETS, NS, "events").is_some());
    task.abort();
}

#[tokio::test]
async fn a_service_monitor_is_applied_when_its_crd_is_installed() {
    let server = FakeApiServer::new();
    server.register(
        SERVICEMONITORS,
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        false,
    );
    let spec = json!({"version": "0.1.0", "metrics": {"serviceMonitor": {"enabled": true}}});
    let (_c, task) = start(&server, spec).await;
    let sm = eventually("servicemonitor", || {
        server.get(SERVICEMONITORS, NS, "events")
    })
    .await;
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert!(sm["metadata"]["ownerReferences"].is_array());
    task.abort();
}

const PODS: &str = "/api/v1/pods";
const EVENTS: &str = "/apis/events.k8s.io/v1/events";

/// Acts as the StatefulSet controller: marks the StatefulSet observed with `revision` as its
/// update revision.
async fn observe_statefulset(server: &FakeApiServer, replicas: i32, revision: &str) {
    let sts: Api<k8s_openapi::api::apps::v1::StatefulSet> = Api::namespaced(server.client(), NS);
    let generation = eventually("statefulset", || server.get(STATEFULSETS, NS, "events")).await
        ["metadata"]["generation"]
        .clone();
    sts.patch_status(
        "events",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"replicas": replicas, "readyReplicas": replicas,
            "observedGeneration": generation, "currentRevision": revision, "updateRevision": revision}})),
    )
    .await
    .unwrap();
}

/// Acts as the StatefulSet controller and kubelet: creates broker pod `n` of revision
/// `revision`, Ready or not.
async fn create_pod(server: &FakeApiServer, n: i32, revision: &str, ready: bool) {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(server.client(), NS);
    let name = format!("events-{n}");
    let pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {
            "app.kubernetes.io/name": "fjord", "app.kubernetes.io/instance": "events",
            "app.kubernetes.io/component": "broker", "app.kubernetes.io/managed-by": "fjord-operator",
            "apps.kubernetes.io/pod-index": n.to_string(), "controller-revision-hash": revision}},
        "spec": {"containers": [{"name": "broker", "image": "fjord"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    set_pod_ready(server, n, ready).await;
}

async fn set_pod_ready(server: &FakeApiServer, n: i32, ready: bool) {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(server.client(), NS);
    let status = if ready { "True" } else { "False" };
    pods.patch_status(
        &format!("events-{n}"),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": status}]}})),
    )
    .await
    .unwrap();
}

fn event_reasons(server: &FakeApiServer) -> Vec<String> {
    server
        .names(EVENTS, NS)
        .iter()
        .filter_map(|n| server.get(EVENTS, NS, n))
        .map(|e| e["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn ready_pods_whose_brokers_do_not_answer_leave_the_cluster_unready_and_count_as_errors() {
    let server = FakeApiServer::new();
    let (_c, task, ctx) = start_with(&server, json!({"version": "0.1.0"}), "127.0.0.1:1").await;
    observe_statefulset(&server, 3, "events-1").await;
    for n in 0..3 {
        create_pod(&server, n, "events-1", true).await;
    }
    let status = eventually("every broker named unreachable", || {
        let s = status_of(&server);
        let named = s["conditions"].as_array()?.iter().any(|c| {
            c["type"] == "Ready"
                && c["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("brokers 0, 1, 2 do not answer"))
        });
        named.then_some(s)
    })
    .await;
    assert_eq!(
        condition(&status, "Ready"),
        Some(("False".into(), "BrokersUnreachable".into()))
    );
    let message = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("brokers 0, 1, 2 do not answer"),
        "{message}"
    );
    assert_eq!(status["readyBrokers"], 3, "the pods pass their probes");
    assert_eq!(
        condition(&status, "Degraded"),
        Some(("True".into(), "BrokersUnreachable".into()))
    );
    eventually("an error counted by reason", || {
        ctx.metrics
            .encode()
            .contains(
                r#"fjord_operator_reconcile_errors_total{controller="cluster",reason="broker_unreachable"}"#,
            )
            .then_some(())
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn a_cluster_is_ready_when_its_broker_answers_and_runs_the_update_revision() {
    let broker = fjord_tests::Broker::start();
    let server = FakeApiServer::new();
    let (_c, task, _ctx) = start_with(
        &server,
        json!({"version": "0.1.0", "replicas": 1}),
        &broker.bootstrap,
    )
    .await;
    observe_statefulset(&server, 1, "events-1").await;
    create_pod(&server, 0, "events-1", true).await;
    let status = eventually("Ready", || {
        let s = status_of(&server);
        condition(&s, "Ready")
            .is_some_and(|c| c.0 == "True")
            .then_some(s)
    })
    .await;
    assert_eq!(status["controller"], 0);
    assert_eq!(status["underReplicatedPartitions"], 0);
    assert_eq!(status["offlinePartitions"], 0);
    assert_eq!(status["phase"], "Ready");
    assert_eq!(
        (
            status["readyBrokers"].clone(),
            status["desiredBrokers"].clone()
        ),
        (json!(1), json!(1))
    );
    assert!(event_reasons(&server).contains(&"StatefulSetCreated".to_string()));
    task.abort();
}

/// A new revision rolls the pods one at a time, the active controller (broker 0, which is the
/// one real broker answering for every ordinal here) last. The test plays the StatefulSet
/// controller: it recreates each deleted pod on the new revision, first unready.
#[tokio::test]
async fn a_new_revision_deletes_one_pod_at_a_time_with_the_controller_last() {
    let broker = fjord_tests::Broker::start();
    let server = FakeApiServer::new();
    let (_c, task, _ctx) =
        start_with(&server, json!({"version": "0.1.0"}), &broker.bootstrap).await;
    observe_statefulset(&server, 3, "events-old").await;
    for n in 0..3 {
        create_pod(&server, n, "events-old", true).await;
    }
    eventually("Ready on the old revision", || {
        condition(&status_of(&server), "Ready")
            .is_some_and(|c| c.0 == "True")
            .then_some(())
    })
    .await;

    // The spec changed: the StatefulSet controller computed a new update revision.
    observe_statefulset(&server, 3, "events-new").await;
    let mut order = Vec::new();
    for _ in 0..3 {
        let gone = eventually("a pod deleted", || {
            let missing: Vec<i32> = (0..3)
                .filter(|n| server.get(PODS, NS, &format!("events-{n}")).is_none())
                .collect();
            assert!(missing.len() <= 1, "more than one pod down: {missing:?}");
            missing.first().copied()
        })
        .await;
        order.push(gone);
        create_pod(&server, gone, "events-new", false).await;
        // The operator has seen the replacement starting (and, while others remain, says it
        // waits for it) before anything else may go.
        let updated = order.len();
        let waiting = format!("waiting for pod events-{gone} to become Ready");
        eventually("the operator sees the new pod starting", || {
            let s = status_of(&server);
            let seen = s["updatedBrokers"] == updated && s["readyBrokers"] == 2;
            let says_waiting = s["conditions"].as_array()?.iter().any(|c| {
                c["type"] == "Rolling"
                    && c["message"].as_str().is_some_and(|m| m.contains(&waiting))
            });
            (seen && (says_waiting || updated == 3)).then_some(())
        })
        .await;
        assert!(
            (0..3).all(|n| server.get(PODS, NS, &format!("events-{n}")).is_some()),
            "nothing else deleted while the new pod starts"
        );
        set_pod_ready(&server, gone, true).await;
    }
    assert_eq!(
        order,
        [1, 2, 0],
        "lowest ordinal first, the controller last"
    );
    let status = eventually("Ready on the new revision", || {
        let s = status_of(&server);
        condition(&s, "Ready")
            .is_some_and(|c| c.0 == "True")
            .then_some(s)
    })
    .await;
    assert_eq!(status["updatedBrokers"], 3);
    assert_eq!(
        condition(&status, "Rolling"),
        Some(("False".into(), "NoRollNeeded".into()))
    );
    let reasons = event_reasons(&server);
    assert_eq!(
        reasons.iter().filter(|r| *r == "RollingBroker").count(),
        3,
        "{reasons:?}"
    );
    task.abort();
}

#[tokio::test]
async fn the_roll_annotation_on_the_cluster_restarts_every_broker_once() {
    let broker = fjord_tests::Broker::start();
    let server = FakeApiServer::new();
    let (clusters, task, _ctx) = start_with(
        &server,
        json!({"version": "0.1.0", "replicas": 1}),
        &broker.bootstrap,
    )
    .await;
    observe_statefulset(&server, 1, "events-1").await;
    create_pod(&server, 0, "events-1", true).await;
    eventually("Ready", || {
        condition(&status_of(&server), "Ready")
            .is_some_and(|c| c.0 == "True")
            .then_some(())
    })
    .await;
    clusters
        .patch(
            "events",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"fjord.dev/roll": "true"}}})),
        )
        .await
        .unwrap();
    eventually("pod deleted", || {
        server.get(PODS, NS, "events-0").is_none().then_some(())
    })
    .await;
    let cluster = server.get(CLUSTERS, NS, "events").unwrap();
    assert!(
        cluster["metadata"]["annotations"]
            .get("fjord.dev/roll")
            .is_none(),
        "the request is consumed"
    );
    // The replacement comes without the annotation: it is not rolled again.
    create_pod(&server, 0, "events-1", true).await;
    eventually("Ready again", || {
        let s = status_of(&server);
        (condition(&s, "Ready").is_some_and(|c| c.0 == "True")
            && condition(&s, "Rolling").is_some_and(|c| c.0 == "False"))
        .then_some(())
    })
    .await;
    assert!(server.get(PODS, NS, "events-0").is_some());
    task.abort();
}

#[tokio::test]
async fn a_deleting_cluster_is_not_applied_again() {
    let server = FakeApiServer::new();
    let (clusters, task, ctx) =
        start_with(&server, json!({"version": "0.1.0"}), "127.0.0.1:1").await;
    eventually("configmap", || server.get(CONFIGMAPS, NS, "events-config")).await;
    // A finalizer of someone else keeps the Cluster in deletion.
    clusters
        .patch(
            "events",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
        )
        .await
        .unwrap();
    clusters
        .delete("events", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(server.client(), NS);
    configmaps
        .delete("events-config", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    let before = ctx.metrics.encode();
    let count = |text: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(
                    r#"fjord_operator_reconciles_total{controller="cluster",result="success"}"#,
                )
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let seen = count(&before);
    // Touch the Cluster so the controller reconciles it while it is being deleted.
    clusters
        .patch(
            "events",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"touch": "1"}}})),
        )
        .await
        .unwrap();
    eventually("a reconcile of the deleting Cluster", || {
        (count(&ctx.metrics.encode()) > seen).then_some(())
    })
    .await;
    assert!(
        server.get(CONFIGMAPS, NS, "events-config").is_none(),
        "the ConfigMap was not re-created"
    );
    task.abort();
}
