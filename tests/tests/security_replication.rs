//! Replication between brokers whose listener is SASL_SSL (issue 13: "inter-broker traffic
//! authenticates too"): the replica fetchers connect as Kafka's inter-broker client does —
//! TLS verified against the listener's trust store, SASL with
//! `sasl.mechanism.inter.broker.protocol` and the JAAS `username`/`password` — so an RF 3
//! topic produced with acks=all reaches every replica; a node of a cluster whose SASL listener
//! names no usable inter-broker mechanism does not start.

use fjord_tests::security::*;
use fjord_tests::*;
use std::time::Duration;

const WAIT: Duration = REPLICATION_WAIT;
const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-pw" user_broker="broker-pw" user_alice="alice-pw";"#;

/// The value of `fjord_log_end_offset` for partition 0 of `topic` on a node (-1: none yet).
fn log_end(metrics_addr: &str, topic: &str) -> f64 {
    let text = metrics_text(metrics_addr);
    let want = format!("fjord_log_end_offset{{topic=\"{topic}\",partition=\"0\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&want))
        .map_or(-1.0, |v| v.trim().parse().expect("a number"))
}

#[test]
fn brokers_replicate_over_their_sasl_ssl_listener() {
    let pki = Pki::new("inter-broker");
    pki.add_ca("main");
    pki.issue("main", "server", "/CN=localhost", true);
    let keystore = pki.s("server-keystore.pem");
    let ca = pki.s("main-ca.pem");
    let cluster = Cluster::start_with(
        3,
        &[
            (
                "listener.security.protocol.map",
                "PLAINTEXT:SASL_SSL,CONTROLLER:PLAINTEXT",
            ),
            ("ssl.keystore.location", &keystore),
            ("ssl.truststore.location", &ca),
            ("sasl.enabled.mechanisms", "PLAIN"),
            ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
            ("sasl.jaas.config", JAAS),
            ("default.replication.factor", "3"),
            ("min.insync.replicas", "2"),
        ],
    );
    let alice = x_args(&[
        ("security.protocol", "sasl_ssl"),
        ("ssl.ca.location", &ca),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-pw"),
    ]);
    let b = cluster.nodes[0].bootstrap.as_str();
    let mut produce: Vec<&str> = vec![
        "-b",
        b,
        "-P",
        "-t",
        "secure",
        "-X",
        "acks=all",
        "-X",
        "message.timeout.ms=30000",
    ];
    produce.extend(alice.iter().map(String::as_str));
    let lines: String = (0..20).map(|i| format!("record-{i}\n")).collect();
    kcat_ok(&produce, Some(&lines));
    for node in &cluster.nodes {
        wait_until(WAIT, "every replica holds the 20 records", || {
            log_end(&node.metrics_addr, "secure") == 20.0
        });
    }
    // Every follower is back in the ISR: no leader counts the partition under-replicated.
    for node in &cluster.nodes {
        wait_until(WAIT, "no under-replicated partition", || {
            gauge(&node.metrics_addr, "fjord_under_replicated_partitions") == 0.0
        });
    }
}

#[test]
fn a_clustered_sasl_listener_without_an_inter_broker_mechanism_does_not_start() {
    let ports = free_ports(2);
    let listeners = format!(
        "SASL_PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{}",
        ports[0]
    );
    let voters = format!("0@127.0.0.1:{},1@127.0.0.1:{}", ports[0], ports[1]);
    let dir = tempfile::tempdir().expect("temp dir");
    let err = start_must_fail(
        dir.path(),
        &[
            ("listeners", &listeners),
            ("controller.quorum.voters", &voters),
            ("sasl.enabled.mechanisms", "PLAIN"),
            ("sasl.jaas.config", JAAS),
        ],
    );
    assert!(err.contains("connections to other brokers"), "{err}");
    assert!(err.contains("GSSAPI"), "{err}");
}
