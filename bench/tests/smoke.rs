//! A short run of every fjord-bench mode against a real `fjord-broker` process: the JSON
//! parses and the counts add up. Never a timing assertion: speed is what the benchmark
//! reports, not what a test decides.
//!
//! Brokers come from the shared test helper `fjord_tests::Broker` (build the binary first:
//! `cargo build -p fjord-broker`).

use std::process::Command;

use fjord_tests::Broker;
use serde_json::Value;

/// Runs fjord-bench with `args` and `--json`; its stdout as JSON.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_fjord-bench"))
        .args(args)
        .arg("--json")
        .output()
        .expect("cannot run fjord-bench");
    assert!(
        out.status.success(),
        "fjord-bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn produce_then_consume_counts_every_message_and_byte() {
    let broker = Broker::start();
    let pid = broker.pid().expect("broker running").to_string();
    let b = broker.bootstrap.as_str();
    let produced = bench(&[
        "produce",
        "--bootstrap",
        b,
        "--broker-pid",
        &pid,
        "--topic",
        "smoke",
        "--count",
        "500",
        "--message-size",
        "100",
        "--acks",
        "all",
        "--idempotence",
    ]);
    assert_eq!(produced["mode"], "produce");
    assert_eq!(produced["messages"], 500);
    assert_eq!(produced["bytes"], 500 * 100);
    assert_eq!(produced["errors"], 0);
    assert_eq!(produced["settings"]["partitions"], "3");
    assert_eq!(produced["latency_ms"]["samples"], 500);
    assert!(produced["broker_cpu"]["cpu_s"].as_f64().unwrap() >= 0.0);

    let consumed = bench(&["consume", "--bootstrap", b, "--topic", "smoke"]);
    assert_eq!(consumed["messages"], 500);
    assert_eq!(consumed["bytes"], 500 * 100);

    let some = bench(&[
        "consume",
        "--bootstrap",
        b,
        "--topic",
        "smoke",
        "--count",
        "120",
    ]);
    assert_eq!(some["messages"], 120);

    // Three consumer threads, one per partition, still read every message once.
    let parallel = bench(&[
        "consume",
        "--bootstrap",
        b,
        "--topic",
        "smoke",
        "--threads",
        "3",
    ]);
    assert_eq!(parallel["messages"], 500);
    assert_eq!(parallel["bytes"], 500 * 100);
    assert_eq!(parallel["settings"]["threads"], "3");
}

#[test]
fn compressed_produce_is_consumed_back_whole() {
    let broker = Broker::start();
    let b = broker.bootstrap.as_str();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("smoke-{codec}");
        let produced = bench(&[
            "produce",
            "--bootstrap",
            b,
            "--topic",
            &topic,
            "--count",
            "300",
            "--compression",
            codec,
        ]);
        assert_eq!(produced["messages"], 300, "{codec}");
        let consumed = bench(&["consume", "--bootstrap", b, "--topic", &topic]);
        assert_eq!(consumed["messages"], 300, "{codec}");
        assert_eq!(consumed["bytes"], 300 * 1024, "{codec}");
    }
}

#[test]
fn latency_measures_every_message_after_the_warmup() {
    let broker = Broker::start();
    let report = bench(&[
        "latency",
        "--bootstrap",
        &broker.bootstrap,
        "--rate",
        "200",
        "--duration",
        "1",
        "--warmup",
        "0.2",
    ]);
    assert_eq!(report["mode"], "latency");
    assert_eq!(report["errors"], 0);
    let measured = report["messages"].as_u64().unwrap();
    // 200 msg/s for 1 s; the split at the warm-up boundary can move one message either way.
    assert!((199..=201).contains(&measured), "measured {measured}");
    assert_eq!(report["latency_ms"]["samples"].as_u64(), Some(measured));
    let p = &report["latency_ms"];
    assert!(p["p50"].as_f64() <= p["p99"].as_f64() && p["p99"].as_f64() <= p["max"].as_f64());
}

#[test]
fn compare_alternates_between_both_addresses_and_reports_ratios() {
    let a = Broker::start();
    let b = Broker::start();
    let report = bench(&[
        "produce",
        "--bootstrap",
        &a.bootstrap,
        "--compare-bootstrap",
        &b.bootstrap,
        "--rounds",
        "2",
        "--count",
        "100",
        "--message-size",
        "10",
    ]);
    assert_eq!(report["a"]["bootstrap"], a.bootstrap.as_str());
    assert_eq!(report["b"]["bootstrap"], b.bootstrap.as_str());
    for side in ["a", "b"] {
        let rounds = report[side]["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 2);
        assert!(rounds.iter().all(|r| r["messages"] == 100));
    }
    assert!(report["ratio_a_over_b"]["msgs_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn group_consume_reads_every_message() {
    let broker = Broker::start();
    let b = broker.bootstrap.as_str();
    bench(&[
        "produce",
        "--bootstrap",
        b,
        "--topic",
        "smoke-group",
        "--count",
        "200",
    ]);
    let consumed = bench(&[
        "consume",
        "--bootstrap",
        b,
        "--topic",
        "smoke-group",
        "--group",
        "g",
    ]);
    assert_eq!(consumed["messages"], 200);
}

#[test]
fn failover_kills_the_leader_and_counts_every_record_acknowledged() {
    let mut cluster = fjord_tests::Cluster::start(3);
    let pids: Vec<String> = cluster
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i}={}", n.pid().expect("node running")))
        .collect();
    let bootstrap = cluster.bootstrap();
    let r = bench(&[
        "failover",
        "--bootstrap",
        &bootstrap,
        "--broker-pids",
        &pids.join(","),
        "--topic",
        "smoke-failover",
        "--rate",
        "200",
        "--warmup",
        "1",
        "--tail",
        "0.5",
        "--give-up",
        "30",
        "--topic-config",
        "min.insync.replicas=2",
    ]);
    assert_eq!(r["mode"], "failover");
    assert_eq!(r["errors"], 0, "every record sent is acknowledged: {r}");
    let settings = &r["settings"];
    let killed: i64 = settings["killed_leader"].as_str().unwrap().parse().unwrap();
    let new: i64 = settings["new_leader"].as_str().unwrap().parse().unwrap();
    assert_ne!(killed, new, "another replica leads: {r}");
    assert!(new >= 0, "{r}");
    let before: u64 = settings["acked_before_kill"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(r["messages"].as_u64().unwrap() > before, "{r}");
    assert!(settings["failover_ms"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    let killed = usize::try_from(killed).expect("a broker id");
    assert!(!cluster.nodes[killed].is_running(), "the leader was killed");
}
