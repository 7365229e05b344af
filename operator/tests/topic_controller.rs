//! The Topic controller against the fake API server and a real `fjord-broker` process.

mod support;

use std::collections::BTreeMap;

use fjord_client::AdminClient;
use fjord_crds::{Cluster, Topic};
use fjord_operator::run;
use fjord_tests::Broker;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use support::fake_apiserver::FakeApiServer;
use support::{context, eventually};

const NS: &str = "streaming";
const TOPICS: &str = "/apis/fjord.dev/v1alpha1/topics";

struct Env {
    server: FakeApiServer,
    topics: Api<Topic>,
    clusters: Api<Cluster>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fake API server with Cluster `events`, and the controllers reaching brokers at `bootstrap`.
async fn env(bootstrap: &str) -> Env {
    let server = FakeApiServer::new();
    let client = server.client();
    let clusters: Api<Cluster> = Api::namespaced(client.clone(), NS);
    let cluster = serde_json::from_value(json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Cluster",
        "metadata": {"name": "events"}, "spec": {"version": "0.1.0", "replicas": 1},
    }))
    .unwrap();
    clusters
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
    let ctx = context(client.clone(), bootstrap.into());
    let c = client.clone();
    let task = tokio::spawn(async move { run::controllers(c, &[NS.to_string()], ctx).await });
    Env {
        topics: Api::namespaced(client, NS),
        clusters,
        server,
        task,
    }
}

async fn create_topic(env: &Env, name: &str, spec: Value) {
    let topic = serde_json::from_value(json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Topic", "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap();
    env.topics
        .create(&PostParams::default(), &topic)
        .await
        .unwrap();
}

fn topic(env: &Env, name: &str) -> Option<Value> {
    env.server.get(TOPICS, NS, name)
}

fn ready(t: &Value) -> Option<(String, String)> {
    t["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").into(),
                c["reason"].as_str().unwrap_or("").into(),
            )
        })
}

async fn wait_status(env: &Env, name: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    eventually(what, || topic(env, name).filter(|t| f(t))).await
}

async fn spec_patch(env: &Env, name: &str, spec: Value) {
    env.topics
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_topic_is_created_grown_reconfigured_and_deleted_on_the_broker() {
    let broker = Broker::start();
    let env = env(&broker.bootstrap).await;
    let admin = AdminClient::connect(&broker.bootstrap).await.unwrap();

    create_topic(
        &env,
        "orders",
        json!({"cluster": "events", "partitions": 3, "replicationFactor": 1,
                                         "config": {"retention.ms": "3600000"}}),
    )
    .await;
    let t = wait_status(&env, "orders", "Ready", |t| {
        ready(t).is_some_and(|r| r.0 == "True")
    })
    .await;
    assert_eq!(t["metadata"]["finalizers"], json!(["fjord.dev/topic"]));
    let info = admin
        .describe_topic("orders")
        .await
        .unwrap()
        .expect("topic exists on the broker");
    assert_eq!(info.partitions.len(), 3);
    assert_eq!(t["status"]["topicId"], info.topic_id.to_string());
    assert_eq!(t["status"]["observedGeneration"], 1);
    let configs = admin.describe_topic_configs("orders").await.unwrap();
    let retention = configs.iter().find(|c| c.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));

    // Grow.
    spec_patch(&env, "orders", json!({"partitions": 5})).await;
    wait_status(&env, "orders", "5 partitions", |t| {
        t["status"]["partitions"] == 5 && t["status"]["observedGeneration"] == 2
    })
    .await;
    assert_eq!(
        admin
            .describe_topic("orders")
            .await
            .unwrap()
            .unwrap()
            .partitions
            .len(),
        5
    );

    // Reconfigure.
    spec_patch(
        &env,
        "orders",
        json!({"config": {"retention.ms": "7200000"}}),
    )
    .await;
    wait_status(&env, "orders", "generation 3", |t| {
        t["status"]["observedGeneration"] == 3
    })
    .await;
    let configs = admin.describe_topic_configs("orders").await.unwrap();
    let retention = configs.iter().find(|c| c.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("7200000"));

    // Someone changes the config on the broker behind the operator's back: the next reconcile
    // reports the drift and restores the spec.
    admin
        .alter_topic_configs(
            "orders",
            &BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]),
            &[],
        )
        .await
        .unwrap();
    env.topics
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"poke": "1"}}})),
        )
        .await
        .unwrap();
    let t = wait_status(&env, "orders", "drift", |t| {
        t["status"]["configDrift"].is_array()
    })
    .await;
    assert_eq!(
        t["status"]["configDrift"],
        json!([{"name": "retention.ms", "desired": "7200000", "actual": "1000"}])
    );
    let configs = admin.describe_topic_configs("orders").await.unwrap();
    assert_eq!(
        configs
            .iter()
            .find(|c| c.name == "retention.ms")
            .unwrap()
            .value
            .as_deref(),
        Some("7200000")
    );

    // A decrease is refused with a condition; the broker keeps its partitions.
    spec_patch(&env, "orders", json!({"partitions": 2})).await;
    let t = wait_status(&env, "orders", "refusal", |t| {
        ready(t).is_some_and(|r| r.1 == "PartitionDecreaseRefused")
    })
    .await;
    assert_eq!(ready(&t).unwrap().0, "False");
    assert_eq!(
        admin
            .describe_topic("orders")
            .await
            .unwrap()
            .unwrap()
            .partitions
            .len(),
        5
    );

    // Delete: the finalizer deletes the Kafka topic, then lets the resource go.
    env.topics
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    eventually("resource gone", || {
        topic(&env, "orders").is_none().then_some(())
    })
    .await;
    assert!(admin.describe_topic("orders").await.unwrap().is_none());
}

#[tokio::test]
async fn a_retained_topic_outlives_its_resource() {
    let broker = Broker::start();
    let env = env(&broker.bootstrap).await;
    create_topic(
        &env,
        "audit",
        json!({"cluster": "events", "partitions": 1, "replicationFactor": 1,
                                        "deletionPolicy": "Retain", "topicName": "audit_log"}),
    )
    .await;
    wait_status(&env, "audit", "Ready", |t| {
        ready(t).is_some_and(|r| r.0 == "True")
    })
    .await;
    env.topics
        .delete("audit", &DeleteParams::default())
        .await
        .unwrap();
    eventually("resource gone", || {
        topic(&env, "audit").is_none().then_some(())
    })
    .await;
    let admin = AdminClient::connect(&broker.bootstrap).await.unwrap();
    assert!(admin.describe_topic("audit_log").await.unwrap().is_some());
}

#[tokio::test]
async fn more_replicas_than_brokers_is_refused_with_a_clear_condition() {
    let broker = Broker::start();
    let env = env(&broker.bootstrap).await;
    create_topic(
        &env,
        "wide",
        json!({"cluster": "events", "partitions": 1, "replicationFactor": 3}),
    )
    .await;
    let t = wait_status(&env, "wide", "refusal", |t| ready(t).is_some()).await;
    assert_eq!(
        ready(&t),
        Some(("False".into(), "ReplicaAssignmentImpossible".into()))
    );
    let message = t["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()["message"]
        .clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("replication factor 3 is larger than the 1 available brokers"),
        "{message}"
    );
    let admin = AdminClient::connect(&broker.bootstrap).await.unwrap();
    assert!(admin.describe_topic("wide").await.unwrap().is_none());
}

#[tokio::test]
async fn the_finalizer_is_released_when_the_cluster_is_gone() {
    // No broker at all: deletion must still complete once the Cluster has gone.
    let env = env("127.0.0.1:1").await;
    create_topic(
        &env,
        "orphan",
        json!({"cluster": "events", "partitions": 1, "replicationFactor": 1}),
    )
    .await;
    wait_status(&env, "orphan", "finalizer", |t| {
        t["metadata"]["finalizers"].is_array()
    })
    .await;
    let t = wait_status(&env, "orphan", "unreachable", |t| ready(t).is_some()).await;
    assert_eq!(
        ready(&t),
        Some(("False".into(), "BrokersUnreachable".into()))
    );

    env.clusters
        .delete("events", &DeleteParams::default())
        .await
        .unwrap();
    env.topics
        .delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    eventually("resource gone", || {
        topic(&env, "orphan").is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_topic_on_a_missing_cluster_says_so() {
    let env = env("127.0.0.1:1").await;
    create_topic(
        &env,
        "lost",
        json!({"cluster": "nope", "partitions": 1, "replicationFactor": 1}),
    )
    .await;
    let t = wait_status(&env, "lost", "condition", |t| ready(t).is_some()).await;
    assert_eq!(ready(&t), Some(("False".into(), "ClusterNotFound".into())));
}
