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

    // --command-config: the file's bootstrap is used; a malformed security setting is a
    // usage error.
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
    assert!(String::from_utf8_lossy(&out.stderr).contains("sasl.mechanism"));
}

// ---------------------------------------------------------------------------------------
// Security: --command-config with Kafka's client properties, ACLs, SCRAM users, the quorum.

use fjord_tests::security::Pki;

const JAAS_USERS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-pw" user_admin="admin-pw" user_alice="alice-pw";"#;

/// Runs `fjord --bootstrap <bootstrap> --command-config <file with props> <args>`.
fn fjord_as(bootstrap: &str, props: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("client.properties");
    std::fs::write(&file, props).expect("write properties");
    let mut all = vec!["--command-config", file.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    fjord(bootstrap, &all)
}

/// Like [`fjord_as`], asserting exit 0; returns stdout.
fn ok_as(bootstrap: &str, props: &str, args: &[&str]) -> String {
    let out = fjord_as(bootstrap, props, args);
    assert!(
        out.status.success(),
        "fjord {args:?} with\n{props}\nfailed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `key=value` lines for PLAIN with Kafka's JAAS syntax, written over two lines.
fn plain_jaas(protocol: &str, user: &str, password: &str) -> String {
    format!(
        "security.protocol={protocol}\nsasl.mechanism=PLAIN\n\
         sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n  \
         username=\"{user}\" password=\"{password}\";\n"
    )
}

/// Inline PEM as a properties value: newlines written as `\n` escapes.
fn inline(pem_file: &std::path::Path) -> String {
    std::fs::read_to_string(pem_file)
        .expect("read PEM")
        .trim_end()
        .replace('\n', "\\n")
}

#[test]
fn the_cli_speaks_ssl_and_mtls_from_pem_files_or_inline_pem() {
    let pki = Pki::new("main");
    pki.issue("main", "server", "/CN=localhost", true);
    pki.issue("main", "alice", "/CN=alice", false);
    let broker = Broker::start_with(&[
        ("listeners", "SSL://127.0.0.1:0"),
        ("ssl.keystore.location", &pki.s("server-keystore.pem")),
        ("ssl.truststore.location", &pki.s("main-ca.pem")),
        ("ssl.client.auth", "required"),
    ]);
    let b = broker.bootstrap.as_str();
    let files = format!(
        "security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={}\n\
         ssl.keystore.type=PEM\nssl.keystore.location={}\n",
        pki.s("main-ca.pem"),
        pki.s("alice-keystore.pem")
    );
    ok_as(
        b,
        &files,
        &["topic", "create", "tls-topic", "--partitions", "2"],
    );
    let status: Value =
        serde_json::from_str(&ok_as(b, &files, &["cluster", "status", "-o", "json"]))
            .expect("json");
    assert_eq!(
        status["brokers"][0]["reachable"],
        Value::Bool(true),
        "{status}"
    );

    let inline_pem = format!(
        "security.protocol=ssl\nssl.truststore.certificates={}\n\
         ssl.keystore.certificate.chain={}\nssl.keystore.key={}\n",
        inline(&pki.path("main-ca.pem")),
        inline(&pki.path("alice.pem")),
        inline(&pki.path("alice.key"))
    );
    assert!(ok_as(b, &inline_pem, &["topic", "list"]).contains("tls-topic"));

    // No client certificate: the broker refuses the handshake; exit 1 with a clear reason.
    let no_cert = format!(
        "security.protocol=SSL\nssl.truststore.location={}\n",
        pki.s("main-ca.pem")
    );
    let out = fjord_as(b, &no_cert, &["topic", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).to_lowercase().contains("certificate"),
        "{}",
        stderr_of(&out)
    );

    // A CA that did not sign the broker's certificate: a TLS error, exit 1.
    pki.add_ca("other");
    let wrong_ca = format!(
        "security.protocol=SSL\nssl.truststore.location={}\nssl.keystore.location={}\n",
        pki.s("other-ca.pem"),
        pki.s("alice-keystore.pem")
    );
    let out = fjord_as(b, &wrong_ca, &["topic", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("TLS handshake failed"),
        "{}",
        stderr_of(&out)
    );

    // Plaintext to a TLS listener, and JKS stores: refused, each with its exit code.
    let out = fjord(b, &["topic", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let jks = "security.protocol=SSL\nssl.truststore.type=JKS\nssl.truststore.location=/x.jks\n";
    let out = fjord_as(b, jks, &["topic", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("JKS and PKCS12"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn the_broker_certificate_must_name_the_host_unless_endpoint_identification_is_off() {
    let pki = Pki::new("main");
    pki.issue_with_ext(
        "main",
        "elsewhere",
        "/CN=broker.example",
        "subjectAltName=DNS:broker.example\nextendedKeyUsage=serverAuth\n",
    );
    let broker = Broker::start_with(&[
        ("listeners", "SSL://127.0.0.1:0"),
        ("ssl.keystore.location", &pki.s("elsewhere-keystore.pem")),
    ]);
    let b = broker.bootstrap.as_str();
    let trust = format!(
        "security.protocol=SSL\nssl.truststore.location={}\n",
        pki.s("main-ca.pem")
    );
    let out = fjord_as(b, &trust, &["topic", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("not valid for name"),
        "{}",
        stderr_of(&out)
    );
    let unchecked = format!("{trust}ssl.endpoint.identification.algorithm=\n");
    ok_as(b, &unchecked, &["topic", "create", "any-name"]);
    // The chain is still checked: a foreign CA is refused even without host names.
    pki.add_ca("other");
    let foreign = format!(
        "security.protocol=SSL\nssl.truststore.location={}\nssl.endpoint.identification.algorithm=\n",
        pki.s("other-ca.pem")
    );
    let out = fjord_as(b, &foreign, &["topic", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
}

#[test]
fn the_cli_logs_in_with_sasl_plain_and_scram_and_manages_scram_users() {
    let broker = Broker::start_with(&[
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        (
            "sasl.enabled.mechanisms",
            "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        ),
        ("sasl.jaas.config", JAAS_USERS),
    ]);
    let b = broker.bootstrap.as_str();
    let admin = plain_jaas("SASL_PLAINTEXT", "admin", "admin-pw");
    ok_as(b, &admin, &["topic", "create", "sasl-topic"]);

    // A wrong password: exit 1 and the broker's reason.
    let out = fjord_as(
        b,
        &plain_jaas("SASL_PLAINTEXT", "admin", "nope"),
        &["topic", "list"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("authentication failed: SASL_AUTHENTICATION_FAILED"),
        "{}",
        stderr_of(&out)
    );

    // No SASL at all: the listener closes the connection, and the CLI says why that may be.
    let out = fjord(b, &["topic", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("does security.protocol match"),
        "{}",
        stderr_of(&out)
    );

    // SCRAM: no credential yet, then set-password, then a login with it.
    let scram = |mechanism: &str, password: &str| {
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms={mechanism}\n\
             sasl.username=carol\nsasl.password={password}\n"
        )
    };
    let out = fjord_as(b, &scram("SCRAM-SHA-512", "carol-pw"), &["topic", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(
        fjord_as(b, &admin, &["user", "describe", "carol"])
            .status
            .code(),
        Some(3)
    );
    let set = ok_as(
        b,
        &admin,
        &[
            "user",
            "set-password",
            "carol",
            "--mechanism",
            "SCRAM-SHA-512",
            "--iterations",
            "8192",
            "--password",
            "carol-pw",
            "-o",
            "json",
        ],
    );
    assert!(set.contains("SCRAM-SHA-512"), "{set}");
    let described: Value = serde_json::from_str(&ok_as(
        b,
        &admin,
        &["user", "describe", "carol", "-o", "json"],
    ))
    .expect("json");
    assert_eq!(
        described["credentials"],
        serde_json::json!([{ "mechanism": "SCRAM-SHA-512", "iterations": 8192 }]),
        "{described}"
    );
    let listed: Value =
        serde_json::from_str(&ok_as(b, &admin, &["user", "list", "-o", "json"])).expect("json");
    assert!(
        listed["users"]
            .as_array()
            .expect("users")
            .iter()
            .any(|u| u["user"] == "carol"),
        "{listed}"
    );
    // The stdin form, for the other hash.
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("admin.properties");
    std::fs::write(&props, &admin).unwrap();
    let out = fjord_with_stdin(
        b,
        &[
            "--command-config",
            props.to_str().unwrap(),
            "user",
            "set-password",
            "carol",
            "--mechanism",
            "SCRAM-SHA-256",
        ],
        "carol-256\n",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));

    let seen = |props: &str| {
        let mut ok = false;
        wait_until(CLIENT_TIMEOUT, "the SCRAM login works", || {
            ok = fjord_as(b, props, &["topic", "list"]).status.success();
            ok
        });
        ok
    };
    assert!(seen(&scram("SCRAM-SHA-512", "carol-pw")));
    assert!(seen(&scram("SCRAM-SHA-256", "carol-256")));
    assert!(
        ok_as(b, &scram("SCRAM-SHA-512", "carol-pw"), &["topic", "list"]).contains("sasl-topic")
    );
    let out = fjord_as(b, &scram("SCRAM-SHA-512", "carol-256"), &["topic", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("authentication failed"),
        "{}",
        stderr_of(&out)
    );

    // delete: every credential goes, and the login with it.
    ok_as(b, &admin, &["user", "delete", "carol"]);
    wait_until(CLIENT_TIMEOUT, "the SCRAM login is refused", || {
        fjord_as(b, &scram("SCRAM-SHA-512", "carol-pw"), &["topic", "list"])
            .status
            .code()
            == Some(1)
    });
    assert_eq!(
        fjord_as(b, &admin, &["user", "describe", "carol"])
            .status
            .code(),
        Some(3)
    );
}

#[test]
fn the_cli_speaks_sasl_ssl() {
    let pki = Pki::new("main");
    pki.issue("main", "server", "/CN=localhost", true);
    let broker = Broker::start_with(&[
        ("listeners", "SASL_SSL://127.0.0.1:0"),
        ("ssl.keystore.location", &pki.s("server-keystore.pem")),
        ("sasl.enabled.mechanisms", "PLAIN"),
        ("sasl.jaas.config", JAAS_USERS),
    ]);
    let b = broker.bootstrap.as_str();
    let props = format!(
        "{}ssl.truststore.location={}\n",
        plain_jaas("SASL_SSL", "alice", "alice-pw"),
        pki.s("main-ca.pem")
    );
    ok_as(b, &props, &["topic", "create", "sasl-ssl-topic"]);
    assert!(ok_as(b, &props, &["topic", "list"]).contains("sasl-ssl-topic"));
    // Without TLS the SASL_SSL listener is not reached: exit 1.
    let out = fjord_as(
        b,
        &plain_jaas("SASL_PLAINTEXT", "alice", "alice-pw"),
        &["topic", "list"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
}

#[test]
fn acls_created_by_the_cli_let_a_principal_in_and_deleting_them_shuts_it_out() {
    let broker = Broker::start_with(&[
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        ("sasl.enabled.mechanisms", "PLAIN"),
        ("sasl.jaas.config", JAAS_USERS),
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
        ("super.users", "User:admin"),
    ]);
    let b = broker.bootstrap.as_str();
    let admin = plain_jaas("SASL_PLAINTEXT", "admin", "admin-pw");
    let alice = plain_jaas("SASL_PLAINTEXT", "alice", "alice-pw");
    ok_as(b, &admin, &["topic", "create", "ledger"]);
    let produce = || fjord_as(b, &alice, &["topic", "produce", "ledger", "--value", "hi"]);
    assert!(!produce().status.success(), "alice produced without an ACL");

    let created: Value = serde_json::from_str(&ok_as(
        b,
        &admin,
        &[
            "acl",
            "create",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--operation",
            "Describe",
            "--topic",
            "ledger",
            "-o",
            "json",
        ],
    ))
    .expect("json");
    assert_eq!(created["action"], "created", "{created}");
    assert_eq!(
        created["acls"].as_array().map(Vec::len),
        Some(2),
        "{created}"
    );
    let listed: Value = serde_json::from_str(&ok_as(
        b,
        &admin,
        &["acl", "list", "--principal", "User:alice", "-o", "json"],
    ))
    .expect("json");
    let ops: BTreeSet<&str> = listed["acls"]
        .as_array()
        .expect("acls")
        .iter()
        .map(|a| {
            assert_eq!(a["resource_type"], "TOPIC", "{a}");
            assert_eq!(a["resource_name"], "ledger", "{a}");
            assert_eq!(a["pattern_type"], "LITERAL", "{a}");
            assert_eq!(a["permission"], "ALLOW", "{a}");
            assert_eq!(a["host"], "*", "{a}");
            a["operation"].as_str().expect("operation")
        })
        .collect();
    assert_eq!(ops, BTreeSet::from(["DESCRIBE", "WRITE"]), "{listed}");

    wait_until(CLIENT_TIMEOUT, "alice may produce", || {
        produce().status.success()
    });
    let read = ok_as(b, &admin, &["topic", "consume", "ledger"]);
    assert!(read.lines().any(|l| l == "hi"), "{read}");

    let deleted: Value = serde_json::from_str(&ok_as(
        b,
        &admin,
        &[
            "acl",
            "delete",
            "--allow-principal",
            "User:alice",
            "--topic",
            "ledger",
            "-o",
            "json",
        ],
    ))
    .expect("json");
    assert_eq!(
        deleted["acls"].as_array().map(Vec::len),
        Some(2),
        "{deleted}"
    );
    let listed: Value =
        serde_json::from_str(&ok_as(b, &admin, &["acl", "list", "-o", "json"])).expect("json");
    assert_eq!(listed["acls"], serde_json::json!([]), "{listed}");
    wait_until(CLIENT_TIMEOUT, "alice is refused again", || {
        !produce().status.success()
    });
    // A principal without a type is a usage error; alice may not manage ACLs.
    let out = fjord_as(
        b,
        &admin,
        &[
            "acl",
            "create",
            "--allow-principal",
            "alice",
            "--topic",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let out = fjord_as(
        b,
        &alice,
        &[
            "acl",
            "create",
            "--allow-principal",
            "User:alice",
            "--cluster",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("CLUSTER_AUTHORIZATION_FAILED"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn cluster_status_json_shows_the_quorum_voters_with_their_lag() {
    let mut cluster = Cluster::start(3);
    cluster.wait_for_controller(0, REPLICATION_WAIT);
    let b = cluster.bootstrap();
    let mut status = Value::Null;
    wait_until(REPLICATION_WAIT, "three voters, all caught up", || {
        status = json(&b, &["cluster", "status"]);
        let voters = status["quorum"]["voters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        voters.len() == 3 && voters.iter().all(|v| v["lag"].as_i64() == Some(0))
    });
    let quorum = &status["quorum"];
    let ids: Vec<i64> = quorum["voters"]
        .as_array()
        .expect("voters")
        .iter()
        .map(|v| v["id"].as_i64().expect("id is a number"))
        .collect();
    assert_eq!(ids, vec![0, 1, 2], "{status}");
    let leader = quorum["leader_id"].as_i64().expect("leader_id is a number");
    assert!(ids.contains(&leader), "{status}");
    assert_eq!(Some(leader), status["controller_id"].as_i64(), "{status}");
    assert!(
        quorum["leader_epoch"].as_i64().expect("epoch") >= 1,
        "{status}"
    );
    let hw = quorum["high_watermark"]
        .as_i64()
        .expect("high watermark is a number");
    for v in quorum["voters"].as_array().unwrap() {
        let end = v["log_end_offset"]
            .as_i64()
            .expect("log end offset is a number");
        assert!(
            end >= hw,
            "a caught-up voter ends at or past the high watermark: {status}"
        );
        assert!(v["last_caught_up_timestamp"].as_i64().is_some(), "{status}");
    }
    assert_eq!(quorum["observers"], serde_json::json!([]), "{status}");
    let table = ok(&b, &["cluster", "status"]);
    assert!(table.contains("quorum: leader"), "{table}");
    assert!(table.contains("LAG"), "{table}");
}
