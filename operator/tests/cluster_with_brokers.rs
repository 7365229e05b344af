//! The operator against the fake API server plus the test kubelet: real `fjord-broker`
//! processes run the pods the operator's StatefulSet asks for.

mod support;

use fjord_client::AdminClient;
use fjord_crds::Cluster;
use fjord_operator::run;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use support::fake_apiserver::FakeApiServer;
use support::{
    context_with_dns, create_ready_topic, describe_topic, eventually_within, kubelet, ready,
};

const NS: &str = "streaming";
const CLUSTERS: &str = "/apis/fjord.dev/v1alpha1/clusters";
const PODS: &str = "/api/v1/pods";
const STATEFULSETS: &str = "/apis/apps/v1/statefulsets";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_single_broker_cluster_runs_serves_a_topic_and_rolls_to_a_new_version_keeping_data() {
    let server = FakeApiServer::new();
    let client = server.client();
    let kubelet = kubelet::start(server.clone(), NS);
    let (port, metrics) = (free_port(), free_port());
    let ctx = context_with_dns(client.clone(), kubelet.dns());
    // The client Service, by name: it resolves once a broker pod is Ready.
    let bootstrap = format!("events-bootstrap.{NS}.svc:{port}");
    let c = client.clone();
    let _controllers = AbortOnDrop(tokio::spawn(async move {
        run::controllers(c, &[NS.to_string()], ctx).await
    }));

    let clusters: Api<Cluster> = Api::namespaced(client.clone(), NS);
    let cluster = serde_json::from_value(json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Cluster", "metadata": {"name": "events"},
        "spec": {"version": "0.1.0", "replicas": 1, "listener": {"port": port},
                 "metrics": {"port": metrics}, "podTemplate": {"terminationGracePeriodSeconds": 30}},
    }))
    .unwrap();
    clusters
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
    let within = std::time::Duration::from_secs(60);
    eventually_within("Cluster Ready with a real broker", within, || {
        let c = server.get(CLUSTERS, NS, "events")?;
        ready(&c).then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n{:#}\nbroker log:\n{}",
            server.get(CLUSTERS, NS, "events").unwrap()["status"],
            kubelet.log("events-0")
        )
    });
    let first_uid = server.get(PODS, NS, "events-0").unwrap()["metadata"]["uid"].clone();

    let topic = json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Topic", "metadata": {"name": "orders"},
        "spec": {"cluster": "events", "partitions": 3, "replicationFactor": 1},
    });
    let before = create_ready_topic(&client, &server, &kubelet, NS, topic, &bootstrap, within)
        .await
        .unwrap();
    assert_eq!(before.partitions.len(), 3);

    clusters
        .patch(
            "events",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "0.2.0"}})),
        )
        .await
        .unwrap();
    let revision = eventually_within("new update revision", within, || {
        let sts = server.get(STATEFULSETS, NS, "events")?;
        (sts["metadata"]["labels"]["app.kubernetes.io/version"] == "0.2.0"
            && sts["status"]["observedGeneration"] == sts["metadata"]["generation"])
            .then(|| sts["status"]["updateRevision"].clone())
    })
    .await
    .unwrap();
    eventually_within("rolled and Ready again", within, || {
        let pod = server.get(PODS, NS, "events-0")?;
        let c = server.get(CLUSTERS, NS, "events")?;
        (pod["metadata"]["uid"] != first_uid
            && pod["metadata"]["labels"]["controller-revision-hash"] == revision
            && c["status"]["observedGeneration"] == 2
            && c["status"]["updatedBrokers"] == 1
            && ready(&c))
        .then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n{:#}\nbroker log:\n{}",
            server.get(CLUSTERS, NS, "events").unwrap()["status"],
            kubelet.log("events-0")
        )
    });

    let after = describe_topic(&kubelet, &bootstrap, "orders")
        .await
        .unwrap();
    assert_eq!(
        after.topic_id, before.topic_id,
        "the same topic, from the kept data directory"
    );
    assert_eq!(after.partitions.len(), 3);
}

/// A `spec.config` change gives the pod template a new config hash, hence a new revision; the
/// roll restarts the broker, which then runs with the new value (not only the mounted file).
#[tokio::test]
async fn a_config_change_rolls_the_broker_onto_the_new_value() {
    let server = FakeApiServer::new();
    let client = server.client();
    let kubelet = kubelet::start(server.clone(), NS);
    let (port, metrics) = (free_port(), free_port());
    let ctx = context_with_dns(client.clone(), kubelet.dns());
    // The client Service, by name: it resolves once a broker pod is Ready.
    let bootstrap = format!("events-bootstrap.{NS}.svc:{port}");
    let c = client.clone();
    let _controllers = AbortOnDrop(tokio::spawn(async move {
        run::controllers(c, &[NS.to_string()], ctx).await
    }));
    let clusters: Api<Cluster> = Api::namespaced(client.clone(), NS);
    let cluster = serde_json::from_value(json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Cluster", "metadata": {"name": "events"},
        "spec": {"version": "0.1.0", "replicas": 1, "listener": {"port": port},
                 "metrics": {"port": metrics}, "config": {"log.retention.ms": "3600000"}},
    }))
    .unwrap();
    clusters
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
    let within = std::time::Duration::from_secs(60);
    let fail = |e: String| {
        panic!(
            "{e}\n{:#}\nbroker log:\n{}",
            server.get(CLUSTERS, NS, "events").unwrap()["status"],
            kubelet.log("events-0")
        )
    };
    eventually_within("Cluster Ready", within, || {
        ready(&server.get(CLUSTERS, NS, "events")?).then_some(())
    })
    .await
    .unwrap_or_else(fail);
    let retention = |configs: Vec<fjord_client::ConfigEntry>| {
        configs
            .into_iter()
            .find(|c| c.name == "retention.ms")
            .and_then(|c| c.value)
    };
    let admin = AdminClient::connect(&kubelet.resolve(&bootstrap))
        .await
        .unwrap();
    admin
        .create_topic(
            &fjord_client::NewTopic {
                name: "audit".into(),
                partitions: 1,
                replication_factor: 1,
                ..Default::default()
            },
            false,
        )
        .await
        .unwrap();
    let before = retention(admin.describe_topic_configs("audit").await.unwrap());
    assert_eq!(before.as_deref(), Some("3600000"));
    drop(admin);
    let first_uid = server.get(PODS, NS, "events-0").unwrap()["metadata"]["uid"].clone();

    clusters
        .patch(
            "events",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"config": {"log.retention.ms": "7200000"}}})),
        )
        .await
        .unwrap();
    eventually_within("rolled and Ready again", within, || {
        let pod = server.get(PODS, NS, "events-0")?;
        let c = server.get(CLUSTERS, NS, "events")?;
        (pod["metadata"]["uid"] != first_uid
            && c["status"]["observedGeneration"] == 2
            && c["status"]["updatedBrokers"] == 1
            && ready(&c))
        .then_some(())
    })
    .await
    .unwrap_or_else(fail);
    let admin = AdminClient::connect(&kubelet.resolve(&bootstrap))
        .await
        .unwrap();
    let after = retention(admin.describe_topic_configs("audit").await.unwrap());
    assert_eq!(
        after.as_deref(),
        Some("7200000"),
        "the running broker has the new value"
    );
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[test]
fn the_kubelet_expands_dependent_variables_like_kubernetes() {
    let env = [("POD_NAME".to_string(), "events-0".to_string())];
    assert_eq!(
        kubelet::expand("PLAINTEXT://$(POD_NAME).events-brokers:9092", &env),
        "PLAINTEXT://events-0.events-brokers:9092"
    );
    assert_eq!(
        kubelet::expand("$(UNKNOWN) $$(POD_NAME) $", &env),
        "$(UNKNOWN) $(POD_NAME) $"
    );
}

#[test]
fn the_kubelet_resolves_downward_api_field_refs() {
    let pod = json!({"metadata": {"name": "events-1", "namespace": "streaming",
        "labels": {"apps.kubernetes.io/pod-index": "1"}}});
    assert_eq!(kubelet::field(&pod, "metadata.name"), "events-1");
    assert_eq!(
        kubelet::field(&pod, "metadata.labels['apps.kubernetes.io/pod-index']"),
        "1"
    );
    assert_eq!(kubelet::field(&pod, "metadata.labels['absent']"), "");
}
