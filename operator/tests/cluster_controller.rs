//! The Cluster controller against the in-process fake API server.

mod support;

use fjord_crds::Cluster;
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
    let ctx = context(client.clone(), "127.0.0.1:1".into());
    let task = tokio::spawn(async move { run::controllers(client, &[NS.to_string()], ctx).await });
    (clusters, task)
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
        Some(("True".into(), "WaitingForBrokers".into()))
    );
    assert_eq!(
        status["bootstrapServers"],
        "events-bootstrap.streaming.svc:9092"
    );
    assert!(
        status.get("underReplicatedPartitions").is_none(),
        "not invented without brokers"
    );

    // The StatefulSet controller reports every broker ready: the Cluster becomes Ready.
    let client = server.client();
    let sts: Api<k8s_openapi::api::apps::v1::StatefulSet> = Api::namespaced(client, NS);
    let generation =
        server.get(STATEFULSETS, NS, "events").unwrap()["metadata"]["generation"].clone();
    sts.patch_status(
        "events",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"replicas": 3, "readyReplicas": 3, "observedGeneration": generation,
                                         "currentRevision": "events-1", "updateRevision": "events-1"}})),
    )
    .await
    .unwrap();
    let status = eventually("Ready", || {
        let s = status_of(&server);
        (condition(&s, "Ready").is_some_and(|c| c.0 == "True")).then_some(s)
    })
    .await;
    assert_eq!(status["readyBrokers"], 3);
    assert_eq!(status["updateRevision"], "events-1");
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
            &Patch::Merge(json!({"spec": {"replicas": 5, "config": {"num.partitions": "12"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        server.get(CLUSTERS, NS, "events").unwrap()["metadata"]["generation"],
        2
    );

    let sts = eventually("statefulset scaled", || {
        server
            .get(STATEFULSETS, NS, "events")
            .filter(|s| s["spec"]["replicas"] == 5)
    })
    .await;
    assert_ne!(sts["metadata"]["resourceVersion"], rv_before);
    let cm = server.get(CONFIGMAPS, NS, "events-config").unwrap();
    let props = cm["data"]["broker.properties"].as_str().unwrap();
    assert!(props.contains("num.partitions=12\n"), "{props}");
    assert!(
        props.contains("4@events-4.events-brokers.streaming.svc:9093"),
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
