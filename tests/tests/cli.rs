//! The `fjord` CLI driven as a user would: the built binary against a real broker process,
//! checked against what rdkafka produced, committed and reads.
//!
//! Needs `cargo build -p fjord-cli -p fjord-broker` first (scripts/test.sh builds every binary).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fjord_tests::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::TopicPartitionList;
use serde_json::Value;

/// The `fjord` binary beside the broker binary the tests use.
fn fjord_bin() -> PathBuf {
    let bin = broker_bin().with_file_name("fjord");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p fjord-cli` first",
        bin.display()
    );
    bin
}

/// Runs `fjord --bootstrap <bootstrap> <args>` with `stdin` and returns its output.
fn fjord_with_stdin(bootstrap: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(fjord_bin())
        .arg("--bootstrap")
        .arg(bootstrap)
        .args(args)
        .env_remove("FJORD_BOOTSTRAP")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fjord");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for fjord")
}

fn fjord(bootstrap: &str, args: &[&str]) -> Output {
    fjord_with_stdin(bootstrap, args, "")
}

/// Runs fjord, asserts exit 0, returns stdout.
fn ok(bootstrap: &str, args: &[&str]) -> String {
    let out = fjord(bootstrap, args);
    assert!(
        out.status.success(),
        "fjord {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs fjord with `-o json` appended and parses its output.
fn json(bootstrap: &str, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    let text = ok(bootstrap, &args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let mut cfg = client_config(bootstrap);
    cfg.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100");
    cfg.create().expect("create consumer")
}

/// Commits `offsets` (partition -> offset) of `topic` for `group` with an assigned (not
/// subscribed) rdkafka consumer, so the group stays without members.
fn commit(bootstrap: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let c = group_consumer(bootstrap, group);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, rdkafka::Offset::Offset(*o))
            .expect("add partition");
    }
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

/// `(topic, partition) -> offsets entry` of `group describe -o json`.
fn offsets_of(described: &Value) -> BTreeMap<(String, i64), Value> {
    described["offsets"]
        .as_array()
        .expect("offsets array")
        .iter()
        .map(|o| {
            let key = (
                o["topic"].as_str().expect("topic").to_owned(),
                o["partition"].as_i64().expect("partition is a number"),
            );
            (key, o.clone())
        })
        .collect()
}

#[test]
fn cluster_status_json_lists_brokers_controller_and_partition_health() {
    let broker = Broker::start();
    ok(
        &broker.bootstrap,
        &["topic", "create", "health", "--partitions", "3"],
    );
    let status = json(&broker.bootstrap, &["cluster", "status"]);
    let brokers = status["brokers"].as_array().expect("brokers");
    assert_eq!(brokers.len(), 1, "{status}");
    assert_eq!(brokers[0]["id"].as_i64(), Some(0), "{status}");
    assert_eq!(brokers[0]["reachable"], Value::Bool(true), "{status}");
    let port = broker.bootstrap.rsplit_once(':').unwrap().1;
    assert_eq!(brokers[0]["port"].to_string(), port, "{status}");
    assert_eq!(status["controller_id"].as_i64(), Some(0), "{status}");
    let partitions = &status["partitions"];
    assert!(
        partitions["total"].as_u64().expect("total") >= 3,
        "{status}"
    );
    for healthy in ["under_replicated", "under_min_isr", "offline"] {
        assert_eq!(partitions[healthy].as_u64(), Some(0), "{healthy}: {status}");
    }
}

#[test]
fn a_topic_created_by_the_cli_is_described_with_partitions_isr_and_config_sources() {
    let broker = Broker::start();
    let created = json(
        &broker.bootstrap,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=60000",
        ],
    );
    assert_eq!(created["name"], "orders");
    let described = json(&broker.bootstrap, &["topic", "describe", "orders"]);
    assert_eq!(described["topic_id"], created["topic_id"], "{described}");
    let partitions = described["partitions"].as_array().expect("partitions");
    let ids: Vec<i64> = partitions
        .iter()
        .map(|p| p["partition"].as_i64().expect("number"))
        .collect();
    assert_eq!(ids, vec![0, 1, 2]);
    for p in partitions {
        assert_eq!(p["leader"].as_i64(), Some(0), "{p}");
        assert_eq!(p["replicas"], serde_json::json!([0]), "{p}");
        assert_eq!(p["isr"], serde_json::json!([0]), "{p}");
    }
    let config = |name: &str| {
        described["configs"]
            .as_array()
            .expect("configs")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {described}"))
    };
    assert_eq!(config("retention.ms")["value"], "60000");
    assert_eq!(config("retention.ms")["source"], "dynamic_topic");
    assert_eq!(config("cleanup.policy")["source"], "default");

    // alter: a config and the partition count; rdkafka sees the new partitions.
    ok(
        &broker.bootstrap,
        &[
            "topic",
            "alter",
            "orders",
            "--partitions",
            "5",
            "--config",
            "retention.ms=120000",
        ],
    );
    wait_for_partitions(&broker.bootstrap, "orders", 5);
    let described = json(&broker.bootstrap, &["topic", "describe", "orders"]);
    assert_eq!(described["partitions"].as_array().unwrap().len(), 5);
    let listed = json(&broker.bootstrap, &["topic", "list"]);
    let orders = listed["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "orders")
        .cloned()
        .expect("orders listed");
    assert_eq!(orders["partitions"].as_u64(), Some(5));

    ok(&broker.bootstrap, &["topic", "delete", "orders"]);
    assert_eq!(
        fjord(&broker.bootstrap, &["topic", "describe", "orders"])
            .status
            .code(),
        Some(3)
    );
}

#[test]
fn group_describe_reports_lag_as_produced_minus_committed() {
    let broker = Broker::start_with(&[("group.initial.rebalance.delay.ms", "0")]);
    ok(
        &broker.bootstrap,
        &["topic", "create", "lagging", "--partitions", "3"],
    );
    produce_n(&broker.bootstrap, "lagging", 30, 3); // 10 per partition
    commit(&broker.bootstrap, "billing", "lagging", &[(0, 4), (1, 10)]);

    let described = json(&broker.bootstrap, &["group", "describe", "billing"]);
    let offsets = offsets_of(&described);
    let p0 = &offsets[&("lagging".to_owned(), 0)];
    assert_eq!(p0["committed_offset"].as_i64(), Some(4), "{described}");
    assert_eq!(p0["log_end_offset"].as_i64(), Some(10), "{described}");
    assert_eq!(p0["lag"].as_i64(), Some(6), "{described}");
    let p1 = &offsets[&("lagging".to_owned(), 1)];
    assert_eq!(p1["lag"].as_i64(), Some(0), "{described}");
    assert!(
        !offsets.contains_key(&("lagging".to_owned(), 2)),
        "{described}"
    );
    assert_eq!(described["total_lag"].as_i64(), Some(6));
    assert_eq!(described["members"], serde_json::json!([]));

    // An active member shows up with its assignment, and its partitions carry its id.
    let c = group_consumer(&broker.bootstrap, "billing");
    c.subscribe(&["lagging"]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    let described = loop {
        let _ = c.poll(Duration::from_millis(50));
        let d = json(&broker.bootstrap, &["group", "describe", "billing"]);
        let assigned = d["members"]
            .as_array()
            .and_then(|m| m.first())
            .map(|m| m["assignments"].as_array().map_or(0, Vec::len))
            .unwrap_or(0);
        if d["state"] == "Stable" && assigned == 3 {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "never stable with 3 assigned: {d}"
        );
    };
    let member = described["members"][0]["member_id"].clone();
    for o in offsets_of(&described).values() {
        assert_eq!(o["member_id"], member, "{described}");
    }
    let listed = json(&broker.bootstrap, &["group", "list"]);
    assert!(
        listed["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["group_id"] == "billing" && g["state"] == "Stable"),
        "{listed}"
    );
}

#[test]
fn reset_offsets_is_a_dry_run_until_execute_and_refuses_active_groups() {
    let broker = Broker::start_with(&[("group.initial.rebalance.delay.ms", "0")]);
    ok(
        &broker.bootstrap,
        &["topic", "create", "replay", "--partitions", "2"],
    );
    produce_n(&broker.bootstrap, "replay", 20, 2); // 10 per partition
    commit(&broker.bootstrap, "etl", "replay", &[(0, 8), (1, 9)]);
    let committed = |b: &str| -> BTreeMap<i64, Option<i64>> {
        offsets_of(&json(b, &["group", "describe", "etl"]))
            .into_iter()
            .map(|((_, p), o)| (p, o["committed_offset"].as_i64()))
            .collect()
    };

    let plan = json(
        &broker.bootstrap,
        &[
            "group",
            "reset-offsets",
            "etl",
            "--topic",
            "replay",
            "--to-earliest",
        ],
    );
    assert_eq!(plan["executed"], Value::Bool(false));
    let new: Vec<(i64, i64, i64)> = plan["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["partition"].as_i64().unwrap(),
                o["current_offset"].as_i64().unwrap(),
                o["new_offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(new, vec![(0, 8, 0), (1, 9, 0)]);
    assert_eq!(
        committed(&broker.bootstrap),
        BTreeMap::from([(0, Some(8)), (1, Some(9))]),
        "a dry run changed the committed offsets"
    );

    let applied = json(
        &broker.bootstrap,
        &[
            "group",
            "reset-offsets",
            "etl",
            "--topic",
            "replay:1",
            "--shift-by",
            "-4",
            "--execute",
        ],
    );
    assert_eq!(applied["executed"], Value::Bool(true));
    assert_eq!(
        committed(&broker.bootstrap),
        BTreeMap::from([(0, Some(8)), (1, Some(5))])
    );
    ok(
        &broker.bootstrap,
        &[
            "group",
            "reset-offsets",
            "etl",
            "--all-topics",
            "--to-offset",
            "100",
            "--execute",
        ],
    );
    // Clamped to the log end offset, as Kafka's tool does.
    assert_eq!(
        committed(&broker.bootstrap),
        BTreeMap::from([(0, Some(10)), (1, Some(10))])
    );
    let far_future = "2100-01-01T00:00:00Z";
    ok(
        &broker.bootstrap,
        &[
            "group",
            "reset-offsets",
            "etl",
            "--topic",
            "replay",
            "--to-datetime",
            "1970-01-02T00:00:00Z",
            "--execute",
        ],
    );
    assert_eq!(
        committed(&broker.bootstrap),
        BTreeMap::from([(0, Some(0)), (1, Some(0))])
    );
    ok(
        &broker.bootstrap,
        &[
            "group",
            "reset-offsets",
            "etl",
            "--topic",
            "replay",
            "--to-datetime",
            far_future,
            "--execute",
        ],
    );
    assert_eq!(
        committed(&broker.bootstrap),
        BTreeMap::from([(0, Some(10)), (1, Some(10))])
    );

    // With a live member the reset is refused and nothing moves.
    let c = group_consumer(&broker.bootstrap, "etl");
    c.subscribe(&["replay"]).expect("subscribe");
    wait_until(Duration::from_secs(30), "consumer joins", || {
        let _ = c.poll(Duration::from_millis(50));
        !c.assignment().map(|a| a.count() == 0).unwrap_or(true)
    });
    let refused = fjord(
        &broker.bootstrap,
        &[
            "group",
            "reset-offsets",
            "etl",
            "--topic",
            "replay",
            "--to-earliest",
            "--execute",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("active member"), "{stderr}");
    assert_eq!(
        committed(&broker.bootstrap),
        BTreeMap::from([(0, Some(10)), (1, Some(10))])
    );
    // ... and so is deleting it.
    assert_eq!(
        fjord(&broker.bootstrap, &["group", "delete", "etl"])
            .status
            .code(),
        Some(1)
    );
    drop(c);
    wait_until(Duration::from_secs(30), "the member leaves", || {
        json(&broker.bootstrap, &["group", "describe", "etl"])["members"]
            .as_array()
            .is_some_and(Vec::is_empty)
    });
    ok(&broker.bootstrap, &["group", "delete", "etl"]);
    assert_eq!(
        fjord(&broker.bootstrap, &["group", "describe", "etl"])
            .status
            .code(),
        Some(3)
    );
}

#[test]
fn produce_and_consume_round_trip_with_keys_headers_and_rdkafka() {
    let broker = Broker::start();
    ok(
        &broker.bootstrap,
        &["topic", "create", "quick", "--partitions", "2"],
    );
    let out = fjord_with_stdin(
        &broker.bootstrap,
        &[
            "topic",
            "produce",
            "quick",
            "--partition",
            "1",
            "--key",
            "k1",
            "--header",
            "trace=abc",
            "-o",
            "json",
        ],
        "first\nsecond\nthird\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let produced: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(produced["base_offset"].as_i64(), Some(0));
    assert_eq!(produced["count"].as_u64(), Some(3));

    // rdkafka reads what the CLI wrote, keys and headers included.
    let consumed = consume_all(&broker.bootstrap, "quick");
    let p1 = &consumed[&1];
    let values: Vec<&[u8]> = p1.iter().map(|c| c.payload.as_deref().unwrap()).collect();
    assert_eq!(values, vec![&b"first"[..], b"second", b"third"]);
    assert!(p1.iter().all(|c| c.key.as_deref() == Some(&b"k1"[..])));
    assert_eq!(p1[0].headers, vec![("trace".to_owned(), b"abc".to_vec())]);

    // The CLI reads what rdkafka wrote.
    produce_ok(
        &producer_config(&broker.bootstrap, "none"),
        "quick",
        &[
            Outgoing::new(0, "a", "from-rdkafka-0"),
            Outgoing::new(0, "b", "from-rdkafka-1"),
        ],
    );
    let plain = ok(
        &broker.bootstrap,
        &["topic", "consume", "quick", "--partition", "0"],
    );
    assert_eq!(plain, "from-rdkafka-0\nfrom-rdkafka-1\n");
    let lines = ok(
        &broker.bootstrap,
        &[
            "topic",
            "consume",
            "quick",
            "--partition",
            "1",
            "--from",
            "1",
            "--format",
            "json",
        ],
    );
    let records: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, vec![1, 2]);
    assert_eq!(records[0]["key"], "k1");
    assert_eq!(records[0]["value"], "second");
    assert_eq!(
        records[0]["headers"],
        serde_json::json!([{"key": "trace", "value": "abc"}])
    );
    // Every partition, stopping after N records.
    let two = ok(&broker.bootstrap, &["topic", "consume", "quick", "-n", "2"]);
    assert_eq!(two.lines().count(), 2, "{two}");
    // From a timestamp after every record: nothing, after waiting at most the timeout.
    let none = ok(
        &broker.bootstrap,
        &[
            "topic",
            "consume",
            "quick",
            "--from-timestamp",
            "2100-01-01T00:00:00Z",
            "-n",
            "1",
            "--timeout-ms",
            "300",
        ],
    );
    assert_eq!(none, "");
    let all: BTreeSet<String> = ok(
        &broker.bootstrap,
        &["topic", "consume", "quick", "--from-timestamp", "0"],
    )
    .lines()
    .map(str::to_owned)
    .collect();
    assert_eq!(all.len(), 5, "{all:?}");
}

#[test]
fn consume_decodes_batches_compressed_by_rdkafka() {
    let broker = Broker::start();
    ok(
        &broker.bootstrap,
        &["topic", "create", "squeezed", "--partitions", "1"],
    );
    let mut expected = String::new();
    for (i, codec) in ["gzip", "snappy", "lz4", "zstd"].iter().enumerate() {
        let value = format!("{codec}-{}", "x".repeat(200));
        produce_ok(
            &producer_config(&broker.bootstrap, codec),
            "squeezed",
            &[Outgoing::new(0, format!("k{i}"), value.clone())],
        );
        expected.push_str(&value);
        expected.push('\n');
    }
    assert_eq!(
        ok(&broker.bootstrap, &["topic", "consume", "squeezed"]),
        expected
    );
}

#[test]
fn exit_codes_tell_not_found_from_usage_from_kafka_errors() {
    let broker = Broker::start();
    let b = broker.bootstrap.as_str();
    ok(b, &["topic", "create", "taken", "--partitions", "1"]);
    let code = |args: &[&str]| fjord(b, args).status.code();
    assert_eq!(code(&["topic", "describe", "missing"]), Some(3));
    assert_eq!(code(&["topic", "delete", "missing"]), Some(3));
    assert_eq!(
        code(&["topic", "consume", "taken", "--partition", "7"]),
        Some(3)
    );
    assert_eq!(code(&["group", "describe", "nobody"]), Some(3));
    assert_eq!(code(&["group", "delete", "nobody"]), Some(3));
    let exists = fjord(b, &["topic", "create", "taken", "--partitions", "1"]);
    assert_eq!(exists.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&exists.stderr).contains("TOPIC_ALREADY_EXISTS"));
    assert_eq!(
        code(&["topic", "create", "bad", "--partitions", "0"]),
        Some(1)
    );
    assert_eq!(code(&["topic", "frobnicate"]), Some(2));
    assert_eq!(
        code(&["group", "reset-offsets", "g", "--topic", "taken"]),
        Some(2)
    );
    assert_eq!(
        code(&["topic", "create", "x", "--config", "novalue"]),
        Some(2)
    );

    // An unreachable bootstrap is a request error, a malformed one a usage error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    assert_eq!(fjord(&addr, &["cluster", "status"]).status.code(), Some(1));
    assert_eq!(
        fjord("no-port", &["cluster", "status"]).status.code(),
        Some(2)
    );

    // --command-config: the file's bootstrap is used, security other than PLAINTEXT refused.
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("client.properties");
    std::fs::write(&props, format!("bootstrap.servers={b}\nclient.id=ops\n")).unwrap();
    let out = Command::new(fjord_bin())
        .args(["--command-config", props.to_str().unwrap(), "topic", "list"])
        .env_remove("FJORD_BOOTSTRAP")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("taken"));
    let env = Command::new(fjord_bin())
        .args(["topic", "list", "-o", "json"])
        .env("FJORD_BOOTSTRAP", b)
        .output()
        .unwrap();
    assert!(
        env.status.success(),
        "{}",
        String::from_utf8_lossy(&env.stderr)
    );
    std::fs::write(&props, "security.protocol=SASL_SSL\n").unwrap();
    let out = fjord(
        b,
        &["--command-config", props.to_str().unwrap(), "topic", "list"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PLAINTEXT"));
}
