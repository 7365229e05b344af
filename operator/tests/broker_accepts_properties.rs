//! What the operator writes for a broker must start a broker: the ConfigMap's properties
//! file plus the pod's FJORD_* variables go through the broker's own configuration loader.

use fjord_broker::config::BrokerConfig;
use fjord_crds::{Cluster, ClusterSpec};
use fjord_operator::desired::configmap::broker_properties;
use kube::api::ObjectMeta;

fn cluster(spec: &str) -> Cluster {
    let spec: ClusterSpec = serde_yaml::from_str(spec).expect("spec parses");
    let mut c = Cluster::new("events", spec);
    c.metadata = ObjectMeta {
        name: Some("events".into()),
        namespace: Some("streaming".into()),
        ..ObjectMeta::default()
    };
    c
}

/// Loads the operator's properties as pod 0 would: file, then its FJORD_* variables.
fn load(c: &Cluster) -> Result<BrokerConfig, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broker.properties");
    std::fs::write(&path, broker_properties(c)).expect("write properties");
    let env = [
        ("FJORD_NODE_ID", "0"),
        (
            "FJORD_ADVERTISED_LISTENERS",
            "PLAINTEXT://events-0.events-brokers.streaming.svc:9092",
        ),
        ("FJORD_BROKER_RACK", ""),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    BrokerConfig::load(Some(&path), env.into_iter(), &[]).map_err(|e| e.to_string())
}

#[test]
fn a_single_broker_cluster_gets_properties_the_broker_accepts() {
    let c = cluster(
        "replicas: 1\nversion: 0.1.0\nconfig:\n  num.partitions: \"3\"\n  log.retention.ms: \"3600000\"\n",
    );
    let cfg = load(&c).expect("the broker accepts the operator's configuration");
    assert_eq!(cfg.node_id, 0);
    assert_eq!(cfg.listener.bind_addr(), "0.0.0.0:9092");
    let adv = cfg
        .advertised_listener
        .expect("advertised listener from the pod");
    assert_eq!(
        (adv.host.as_str(), adv.port),
        ("events-0.events-brokers.streaming.svc", 9092)
    );
    assert_eq!(cfg.metrics_port, 9404);
    assert_eq!(cfg.num_partitions, 3);
    assert_eq!(cfg.retention_ms, 3_600_000);
    assert_eq!(cfg.rack, None, "an empty FJORD_BROKER_RACK means no rack");
}

#[test]
fn a_multi_broker_cluster_is_refused_by_the_broker_until_replication_exists() {
    let c = cluster("replicas: 3\nversion: 0.1.0\n");
    let err = load(&c).expect_err("a three-voter quorum is not served yet");
    assert!(err.contains("controller.quorum.voters"), "{err}");
}
