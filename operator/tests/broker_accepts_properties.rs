//! What the operator writes for a broker must start a broker: the ConfigMap's properties
//! file plus the pod's FJORD_* variables go through the broker's own configuration loader.

use fjord_broker::config::BrokerConfig;
use fjord_crds::{Cluster, ClusterSpec};
use fjord_operator::desired::configmap::broker_properties;
use fjord_operator::desired::quorum::{Quorum, BROKER_ONLY_NODES};
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

/// Loads the operator's properties as pod `ordinal` would: its file, then its FJORD_* variables.
fn load_pod(c: &Cluster, quorum: &Quorum, ordinal: i32) -> Result<BrokerConfig, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broker.properties");
    std::fs::write(&path, broker_properties(c, quorum, ordinal)).expect("write properties");
    let id = ordinal.to_string();
    let adv = format!("PLAINTEXT://events-{ordinal}.events-brokers.streaming.svc:9092");
    let env = [
        ("FJORD_NODE_ID", id.as_str()),
        ("FJORD_ADVERTISED_LISTENERS", adv.as_str()),
        ("FJORD_BROKER_RACK", ""),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    BrokerConfig::load(Some(&path), env.into_iter(), &[]).map_err(|e| e.to_string())
}

fn load(c: &Cluster) -> Result<BrokerConfig, String> {
    load_pod(c, &Quorum::new(c.spec.replicas, None), 0)
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
fn every_voter_of_a_three_broker_cluster_gets_properties_the_broker_accepts() {
    let c = cluster("replicas: 3\nversion: 0.1.0\n");
    let quorum = Quorum::new(3, None);
    for n in 0..3 {
        let cfg = load_pod(&c, &quorum, n).unwrap_or_else(|e| panic!("pod {n}: {e}"));
        assert_eq!(cfg.node_id, n);
        assert_eq!(cfg.voters.len(), 3);
        assert_eq!(
            cfg.voters[2].host, "events-2.events-brokers.streaming.svc",
            "voters by their headless-service names"
        );
        assert_eq!(
            cfg.controller_listener.expect("controller listener").port,
            9093
        );
        assert_eq!(cfg.listener.port, 9092);
    }
}

/// The operator refuses clusters with broker-only nodes exactly while the broker does: when
/// broker-only nodes land in fjord-broker, this fails until `BROKER_ONLY_NODES` is flipped.
#[test]
fn the_operator_refuses_non_voters_exactly_when_the_broker_does() {
    let c = cluster("replicas: 5\nversion: 0.1.0\n");
    let quorum = Quorum::new(3, None);
    let non_voter = load_pod(&c, &quorum, 4);
    assert_eq!(
        non_voter.is_ok(),
        BROKER_ONLY_NODES,
        "broker said {non_voter:?}; update fjord_operator::desired::quorum::BROKER_ONLY_NODES"
    );
    assert_eq!(quorum.problem(5).is_none(), BROKER_ONLY_NODES);
}
