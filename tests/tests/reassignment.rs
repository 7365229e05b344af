//! Partition reassignment with real broker processes (issue 11): AlterPartitionReassignments
//! moves a partition's replicas while an `acks=all` producer writes (the new replicas catch up
//! as followers, the old ones are dropped and delete their logs), changes the replication
//! factor both ways, cancels an ongoing move, and answers Kafka's error codes;
//! ListPartitionReassignments shows what is moving; `fjord reassign` drives it, with Kafka's
//! replication throttles around a move.

use fjord_tests::security::SecureConn;
use fjord_tests::*;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rdkafka::admin::{ConfigSource, ResourceSpecifier};
use rdkafka::producer::Producer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = REPLICATION_WAIT;

const SETTINGS: &[(&str, &str)] = &[
    ("min.insync.replicas", "2"),
    ("replica.lag.time.max.ms", "3000"),
];

/// AlterPartitionReassignments for partition 0 of `topic` (`None` cancels) at `version`, with
/// `allow_replication_factor_change` (v1): the partition's error code and message.
fn alter_with(
    bootstrap: &str,
    topic: &str,
    target: Option<&[i32]>,
    version: i16,
    allow_rf_change: bool,
) -> (i16, Option<String>) {
    let partition = ReassignablePartition::default()
        .with_partition_index(0)
        .with_replicas(target.map(|t| t.iter().map(|&b| BrokerId(b)).collect()));
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_allow_replication_factor_change(allow_rf_change)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![partition])]);
    let mut conn = RawConn::connect(bootstrap);
    let resp: AlterPartitionReassignmentsResponse =
        conn.request(ApiKey::AlterPartitionReassignments, version, &request);
    let p = &resp.responses[0].partitions[0];
    (
        p.error_code,
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// [`alter_with`] at v0, asserting success.
fn alter(bootstrap: &str, topic: &str, target: Option<&[i32]>) {
    let (code, message) = alter_with(bootstrap, topic, target, 0, true);
    assert_eq!(code, 0, "reassigning {topic} to {target:?}: {message:?}");
}

/// One ongoing reassignment: `(topic, partition, replicas, adding, removing)`.
type Ongoing = (String, i32, Vec<i32>, Vec<i32>, Vec<i32>);

/// Every ongoing reassignment.
fn ongoing(bootstrap: &str) -> Vec<Ongoing> {
    let mut conn = RawConn::connect(bootstrap);
    let resp: ListPartitionReassignmentsResponse = conn.request(
        ApiKey::ListPartitionReassignments,
        0,
        &ListPartitionReassignmentsRequest::default().with_timeout_ms(30_000),
    );
    assert_eq!(resp.error_code, 0);
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    resp.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                )
            })
        })
        .collect()
}

/// Partition 0's replica list as `bootstrap` reports it in Metadata.
fn replicas(bootstrap: &str, topic: &str) -> Vec<i32> {
    topic_metadata_on(bootstrap, topic)
        .and_then(|t| t.partitions.into_iter().next())
        .map(|p| p.replica_nodes.iter().map(|b| b.0).collect())
        .unwrap_or_default()
}

/// Waits until every running node reports `topic` on exactly `target` (in order), all in
/// sync, and no reassignment is listed.
fn wait_moved(cluster: &Cluster, topic: &str, target: &[i32]) {
    for node in &cluster.nodes {
        wait_until(
            WAIT,
            &format!("{topic} on {target:?} at {}", node.bootstrap),
            || {
                let isr = partition_state(&node.bootstrap, topic).map(|(_, _, isr)| isr);
                replicas(&node.bootstrap, topic) == target
                    && isr.is_some_and(|isr| isr.len() == target.len())
                    && ongoing(&node.bootstrap).is_empty()
            },
        );
    }
}

/// Whether node `node` has a log directory for partition 0 of `topic`.
fn has_log(cluster: &Cluster, node: i32, topic: &str) -> bool {
    cluster.nodes[node as usize]
        .data_dir
        .join(format!("{topic}-0"))
        .exists()
}

fn idempotent(bootstrap: &str) -> rdkafka::ClientConfig {
    let mut cfg = producer_config(bootstrap, "none");
    cfg.set("enable.idempotence", "true");
    cfg
}

/// An idempotent `acks=all` producer writing to partition 0 of `topic` on a thread until
/// stopped: the messages it sent and their delivery reports.
struct Load {
    stop: Arc<AtomicBool>,
    collector: DeliveryCollector,
    thread: std::thread::JoinHandle<Vec<Outgoing>>,
}

impl Load {
    fn start(bootstrap: &str, topic: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let collector = DeliveryCollector::default();
        let (cfg, topic) = (idempotent(bootstrap), topic.to_string());
        let (flag, reports) = (stop.clone(), collector.clone());
        let thread = std::thread::spawn(move || {
            let producer: CollectingProducer =
                cfg.create_with_context(reports).expect("create producer");
            let mut msgs = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let seq = msgs.len();
                let m = Outgoing::new(0, format!("k{seq}"), format!("{topic}-{seq}"));
                send(&producer, &topic, seq, &m);
                msgs.push(m);
                if seq % 50 == 49 {
                    producer.flush(Duration::from_secs(60)).expect("flush");
                }
            }
            producer.flush(Duration::from_secs(60)).expect("flush");
            msgs
        });
        Load {
            stop,
            collector,
            thread,
        }
    }

    /// Waits until `more` records beyond those acknowledged now are acknowledged.
    fn wait_more_acked(&self, more: usize) {
        let n = self.collector.acked() + more;
        wait_until(WAIT, &format!("{n} records acknowledged"), || {
            self.collector.acked() >= n
        });
    }

    fn finish(self) -> (Vec<Outgoing>, Vec<Delivery>) {
        self.stop.store(true, Ordering::Relaxed);
        let msgs = self.thread.join().expect("producer thread");
        wait_until(WAIT, "every delivery report", || {
            self.collector.count() == msgs.len()
        });
        (msgs, self.collector.reports())
    }
}

#[test]
fn a_partition_moves_to_new_replicas_under_acks_all_load_and_back() {
    let mut cluster = Cluster::start_with(3, SETTINGS);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    let bootstrap = cluster.bootstrap();
    // Raw requests go to one broker (any: they are forwarded to the controller).
    let raw = cluster.nodes[1].bootstrap.clone();
    create_replicated(&raw, "move", 2, &[0, 1]);
    wait_moved(&cluster, "move", &[0, 1]);
    let load = Load::start(&bootstrap, "move");
    load.wait_more_acked(200);

    // 0 -> 2: the leader (0) is the replica that leaves, so leadership moves too.
    alter(&raw, "move", Some(&[2, 1]));
    wait_moved(&cluster, "move", &[2, 1]);
    let (leader, _, _) = partition_state(&raw, "move").expect("partition");
    assert_eq!(
        leader, 2,
        "the first replica of the target leads once 0 leaves"
    );
    wait_until(WAIT, "node 0 deleted its replica", || {
        !has_log(&cluster, 0, "move")
    });
    assert!(has_log(&cluster, 2, "move"));
    load.wait_more_acked(200);

    // And back: 0 starts from an empty log again and catches up.
    alter(&raw, "move", Some(&[0, 1]));
    wait_moved(&cluster, "move", &[0, 1]);
    wait_until(WAIT, "node 2 deleted its replica", || {
        !has_log(&cluster, 2, "move")
    });
    load.wait_more_acked(200);
    let (msgs, reports) = load.finish();
    assert!(
        reports.iter().filter(|d| d.result.is_ok()).count() >= 600,
        "the producer kept going through both moves"
    );
    assert_acked_records_kept(&bootstrap, "move", &msgs, &reports);
}

#[test]
fn the_replication_factor_goes_from_one_to_three_and_down_to_two() {
    let mut cluster = Cluster::start_with(3, &[("replica.lag.time.max.ms", "3000")]);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    let bootstrap = cluster.bootstrap();
    let raw = cluster.nodes[1].bootstrap.clone();
    create_replicated(&raw, "rf", 1, &[0]);
    wait_moved(&cluster, "rf", &[0]);
    let msgs = numbered_messages("rf", 600, 1);
    let mut acked = produce_all(&idempotent(&bootstrap), "rf", &msgs[..300]);
    assert!(acked.iter().all(|d| d.result.is_ok()));

    alter(&raw, "rf", Some(&[0, 1, 2]));
    wait_moved(&cluster, "rf", &[0, 1, 2]);
    assert!(has_log(&cluster, 1, "rf") && has_log(&cluster, 2, "rf"));

    // Down to two, without the leader: it hands over and deletes its copy.
    alter(&raw, "rf", Some(&[2, 1]));
    wait_moved(&cluster, "rf", &[2, 1]);
    wait_until(WAIT, "node 0 deleted its replica", || {
        !has_log(&cluster, 0, "rf")
    });
    let mut more = produce_all(&idempotent(&bootstrap), "rf", &msgs[300..]);
    assert!(more.iter().all(|d| d.result.is_ok()));
    for d in &mut more {
        d.seq += 300;
    }
    acked.extend(more);
    // Node 0 no longer holds the partition: kill it, everything is read from the new replicas.
    cluster.nodes[0].kill9();
    // Once it is fenced no client is sent to it (a transport error is a consumer error here).
    cluster.wait_for_brokers(1, &[1, 2], WAIT);
    let survivors = cluster.bootstrap();
    assert_acked_records_kept(&survivors, "rf", &msgs, &acked);
}

#[test]
fn cancelling_an_ongoing_reassignment_restores_the_original_replicas() {
    let cluster = Cluster::start_with(3, SETTINGS);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    let controller = cluster.wait_for_controller(0, WAIT);
    // Pause a broker that is not the controller: its replica cannot catch up, so the
    // reassignment that adds it stays in progress.
    let paused = (controller + 1) % 3;
    let others: Vec<i32> = (0..3).filter(|&n| n != paused).collect();
    let bootstrap = cluster.nodes[controller as usize].bootstrap.clone();
    create_replicated(&bootstrap, "cancel", 2, &others);
    wait_moved(&cluster, "cancel", &others);
    produce_ok(
        &idempotent(&bootstrap),
        "cancel",
        &numbered_messages("c", 50, 1),
    );
    let pid = cluster.nodes[paused as usize].pid().expect("running") as i32;
    kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("SIGSTOP");

    let target = [others[0], paused];
    alter(&bootstrap, "cancel", Some(&target));
    let listed = ongoing(&bootstrap);
    assert_eq!(
        listed,
        vec![(
            "cancel".to_string(),
            0,
            vec![others[0], paused, others[1]],
            vec![paused],
            vec![others[1]],
        )]
    );
    assert_eq!(
        replicas(&bootstrap, "cancel"),
        vec![others[0], paused, others[1]]
    );

    alter(&bootstrap, "cancel", None);
    assert!(ongoing(&bootstrap).is_empty());
    assert_eq!(replicas(&bootstrap, "cancel"), others);
    let (code, _) = alter_with(&bootstrap, "cancel", None, 0, true);
    assert_eq!(code, 85, "NO_REASSIGNMENT_IN_PROGRESS once cancelled");

    kill(Pid::from_raw(pid), Signal::SIGCONT).expect("SIGCONT");
    wait_moved(&cluster, "cancel", &others);
    wait_until(WAIT, "the cancelled replica's log is gone", || {
        !has_log(&cluster, paused, "cancel")
    });
    let all = consume_all(&bootstrap, "cancel");
    assert_eq!(all.get(&0).map_or(0, Vec::len), 50);
}

#[test]
fn reassignment_refusals_carry_kafkas_error_codes() {
    let cluster = Cluster::start_with(3, &[]);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    // A broker that is not the controller: the requests are forwarded.
    let controller = cluster.wait_for_controller(0, WAIT);
    let node = cluster.nodes[((controller + 1) % 3) as usize]
        .bootstrap
        .clone();
    create_replicated(&node, "bad", 2, &[0, 1]);
    wait_moved(&cluster, "bad", &[0, 1]);
    let code = |topic: &str, target: Option<&[i32]>| alter_with(&node, topic, target, 0, true).0;
    assert_eq!(code("nope", Some(&[0])), 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(code("bad", Some(&[0, 0])), 39, "a broker twice");
    assert_eq!(code("bad", Some(&[0, 7])), 39, "an unregistered broker");
    assert_eq!(code("bad", Some(&[])), 39, "no replicas");
    assert_eq!(code("bad", None), 85, "NO_REASSIGNMENT_IN_PROGRESS");
    let (rf, message) = alter_with(&node, "bad", Some(&[0, 1, 2]), 1, false);
    assert_eq!(
        rf, 38,
        "INVALID_REPLICATION_FACTOR without allowReplicationFactorChange"
    );
    assert!(message.unwrap_or_default().contains("from 2 to 3"));
    assert_eq!(replicas(&node, "bad"), vec![0, 1], "nothing was changed");
    assert_eq!(
        alter_with(&node, "bad", Some(&[1, 2]), 1, false).0,
        0,
        "same count: allowed"
    );
    wait_moved(&cluster, "bad", &[1, 2]);
}

/// Runs the `fjord` CLI (built beside the broker) against `bootstrap` with `-o json`:
/// whether it succeeded, and its stdout parsed.
fn fjord_json(bootstrap: &str, args: &[&str]) -> (bool, serde_json::Value) {
    let out = std::process::Command::new(broker_bin().with_file_name("fjord"))
        .args(["--bootstrap", bootstrap, "-o", "json"])
        .args(args)
        .env_remove("FJORD_BOOTSTRAP")
        .output()
        .expect("run fjord (cargo build -p fjord-cli first)");
    let value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), value)
}

#[test]
fn the_cli_generates_executes_and_verifies_a_plan() {
    let cluster = Cluster::start_with(3, &[]);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    let node = cluster.nodes[0].bootstrap.clone();
    create_replicated(&node, "cli", 1, &[0]);
    wait_moved(&cluster, "cli", &[0]);

    let (ok, generated) = fjord_json(
        &node,
        &[
            "reassign",
            "generate",
            "--topics",
            "cli",
            "--brokers",
            "1,2",
            "--replication-factor",
            "2",
        ],
    );
    assert!(ok, "{generated}");
    assert_eq!(
        generated["current"]["partitions"][0]["replicas"],
        serde_json::json!([0])
    );
    let proposed = &generated["proposed"];
    let target: Vec<i32> = proposed["partitions"][0]["replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .filter_map(|r| r.as_i64().map(|r| r as i32))
        .collect();
    let mut sorted = target.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![1, 2]);

    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, proposed.to_string()).expect("write the plan");
    let plan = plan.to_str().expect("utf-8 path");
    let (ok, started) = fjord_json(
        &node,
        &["reassign", "execute", "--reassignment-json-file", plan],
    );
    assert!(ok, "{started}");
    wait_until(WAIT, "verify says complete", || {
        let (ok, verified) = fjord_json(
            &node,
            &["reassign", "verify", "--reassignment-json-file", plan],
        );
        ok && verified["partitions"][0]["status"] == "complete"
    });
    wait_moved(&cluster, "cli", &target);
    let (ok, listed) = fjord_json(&node, &["reassign", "list"]);
    assert!(
        ok && listed["reassignments"] == serde_json::json!([]),
        "{listed}"
    );
    let (ok, cancelled) = fjord_json(
        &node,
        &["reassign", "cancel", "--reassignment-json-file", plan],
    );
    assert!(!ok, "nothing to cancel: {cancelled}");
    assert!(
        cancelled["partitions"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("NO_REASSIGNMENT_IN_PROGRESS")),
        "{cancelled}"
    );
}

#[test]
fn reassignments_need_alter_and_describe_on_the_cluster() {
    let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-pw" user_admin="admin-pw" user_alice="alice-pw";"#;
    let broker = Broker::start_with(&[
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        ("sasl.enabled.mechanisms", "PLAIN"),
        ("sasl.jaas.config", jaas),
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
        ("super.users", "User:admin"),
    ]);
    let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        ReassignableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![
                ReassignablePartition::default().with_replicas(Some(vec![BrokerId(0)]))
            ]),
    ]);
    let as_user = |user: &str, password: &str| {
        let mut c = SecureConn::connect(&broker.bootstrap, None).expect("connect");
        assert_eq!(c.sasl_plain(user, password).error_code, 0);
        let altered: AlterPartitionReassignmentsResponse =
            c.request(ApiKey::AlterPartitionReassignments, 0, &request);
        let listed: ListPartitionReassignmentsResponse = c.request(
            ApiKey::ListPartitionReassignments,
            0,
            &ListPartitionReassignmentsRequest::default(),
        );
        (
            altered.error_code,
            altered.responses[0].partitions[0].error_code,
            listed.error_code,
        )
    };
    assert_eq!(
        as_user("alice", "alice-pw"),
        (31, 31, 31),
        "CLUSTER_AUTHORIZATION_FAILED"
    );
    assert_eq!(
        as_user("admin", "admin-pw"),
        (0, 3, 0),
        "allowed: the topic is unknown"
    );
}

/// A config of `resource` as rdkafka's admin client describes it (it asks a broker resource's
/// own broker): its value and source.
fn config_value(
    bootstrap: &str,
    resource: ResourceSpecifier<'_>,
    key: &str,
) -> (Option<String>, ConfigSource) {
    let admin = client_config(bootstrap)
        .create::<rdkafka::admin::AdminClient<_>>()
        .expect("admin client");
    let mut described = block_on(admin.describe_configs([&resource], &admin_options()))
        .expect("DescribeConfigs request");
    let config = described
        .remove(0)
        .unwrap_or_else(|code| panic!("describing {resource:?}: {code:?}"));
    config
        .entries
        .into_iter()
        .find(|e| e.name == key)
        .map(|e| (e.value, e.source))
        .unwrap_or_else(|| panic!("{key} missing from {resource:?}"))
}

/// Waits until every broker of `cluster` reports `key` as `value` set dynamically on itself
/// (`None`: back to its default).
fn wait_broker_config(cluster: &Cluster, key: &str, value: Option<&str>) {
    for (id, node) in cluster.nodes.iter().enumerate() {
        wait_until(WAIT, &format!("broker {id}: {key} = {value:?}"), || {
            let (v, source) =
                config_value(&node.bootstrap, ResourceSpecifier::Broker(id as i32), key);
            match value {
                Some(value) => v.as_deref() == Some(value) && source == ConfigSource::DynamicBroker,
                None => source == ConfigSource::Default,
            }
        });
    }
}

/// `fjord reassign execute --throttle` (kafka-reassign-partitions.sh's): moving a partition
/// holding 400 kB from broker 0 to brokers 1 and 2 sets both throttled rates on the three
/// brokers involved and lists the leader side on the old replica and the follower side on the
/// new ones, as DescribeConfigs shows; the throttle applies (the leader holds the new replicas
/// back and both sides count their bytes); `verify` keeps the throttles while the move is in
/// progress and removes them once it is complete, and no record is lost.
#[test]
fn a_throttled_move_sets_the_throttles_applies_them_and_verify_removes_them() {
    const RATE: &str = "100000";
    let cluster = Cluster::start_with(3, &[]);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    let node = cluster.nodes[0].bootstrap.clone();
    create_replicated(&node, "throttled", 1, &[0]);
    wait_moved(&cluster, "throttled", &[0]);
    // Small batches: the leader's quota passes at most a second's worth per fetch, but a
    // larger batch would pass whole (KIP-74).
    let msgs: Vec<Outgoing> = (0..400)
        .map(|i| Outgoing::new(0, format!("k{i}"), format!("{i:04}{}", "x".repeat(1000))))
        .collect();
    let mut small_batches = idempotent(&node);
    small_batches.set("batch.num.messages", "4");
    produce_ok(&small_batches, "throttled", &msgs);

    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.json");
    let target = serde_json::json!({"version": 1, "partitions": [
        {"topic": "throttled", "partition": 0, "replicas": [1, 2]}
    ]});
    std::fs::write(&plan, target.to_string()).expect("write the plan");
    let plan = plan.to_str().expect("utf-8 path");
    let (ok, started) = fjord_json(
        &node,
        &[
            "reassign",
            "execute",
            "--reassignment-json-file",
            plan,
            "--throttle",
            RATE,
        ],
    );
    assert!(ok, "{started}");
    let throttle = &started["throttle"];
    assert_eq!(
        throttle["brokers"],
        serde_json::json!([0, 1, 2]),
        "{started}"
    );
    assert_eq!(throttle["leader_replicas"]["throttled"], "0:0", "{started}");
    assert_eq!(
        throttle["follower_replicas"]["throttled"], "0:1,0:2",
        "{started}"
    );

    // Copying 2 x 400 kB through the leader's 100 kB/s takes seconds: still in progress, so
    // verify keeps the throttles.
    let (ok, verified) = fjord_json(
        &node,
        &["reassign", "verify", "--reassignment-json-file", plan],
    );
    assert!(ok, "{verified}");
    assert_eq!(
        verified["partitions"][0]["status"], "in progress",
        "{verified}"
    );
    assert_eq!(verified["throttles"], "kept", "{verified}");
    for key in [
        "leader.replication.throttled.rate",
        "follower.replication.throttled.rate",
    ] {
        wait_broker_config(&cluster, key, Some(RATE));
    }
    let topic = |key| config_value(&node, ResourceSpecifier::Topic("throttled"), key);
    assert_eq!(
        topic("leader.replication.throttled.replicas"),
        (Some("0:0".to_string()), ConfigSource::DynamicTopic)
    );
    assert_eq!(
        topic("follower.replication.throttled.replicas"),
        (Some("0:1,0:2".to_string()), ConfigSource::DynamicTopic)
    );
    let throttled = |node: usize, metric: &str, side: &str| {
        gauge(
            &cluster.nodes[node].metrics_addr,
            &format!("{metric}{{side=\"{side}\"}}"),
        )
    };
    wait_until(WAIT, "the leader holds back the new replicas", || {
        throttled(0, "fjord_replication_throttled_total", "leader") > 0.0
    });

    // verify --wait follows the move with a progress bar on stderr, then verifies.
    let out = std::process::Command::new(broker_bin().with_file_name("fjord"))
        .args(["--bootstrap", &node, "-o", "json", "reassign", "verify"])
        .args([
            "--reassignment-json-file",
            plan,
            "--wait",
            "--wait-timeout",
            "60",
        ])
        .env_remove("FJORD_BOOTSTRAP")
        .output()
        .expect("run fjord");
    let bar = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{bar}");
    assert!(
        bar.contains("[--------------------] 0/1 partitions done"),
        "{bar}"
    );
    assert!(
        bar.trim_end()
            .ends_with("[####################] 1/1 partitions done"),
        "{bar}"
    );
    let verified: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        verified["partitions"][0]["status"], "complete",
        "{verified}"
    );
    assert_eq!(verified["throttles"], "cleared", "{verified}");
    assert_eq!(
        verified["cleared"]["brokers"],
        serde_json::json!([0, 1, 2]),
        "{verified}"
    );
    assert_eq!(
        verified["cleared"]["topics"],
        serde_json::json!(["throttled"]),
        "{verified}"
    );
    wait_moved(&cluster, "throttled", &[1, 2]);
    for key in [
        "leader.replication.throttled.rate",
        "follower.replication.throttled.rate",
    ] {
        wait_broker_config(&cluster, key, None);
    }
    for key in [
        "leader.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
    ] {
        let (value, source) = topic(key);
        assert!(
            source != ConfigSource::DynamicTopic && value.unwrap_or_default().is_empty(),
            "{key} still set"
        );
    }
    // Every byte the new replicas copied went through the quotas: each new replica's whole
    // log (over 400 kB) on its follower side, both of them on the leader's.
    let leader = throttled(0, "fjord_replication_throttled_bytes_total", "leader");
    assert!(leader >= 800_000.0, "leader side counted {leader} bytes");
    for follower in [1, 2] {
        let counted = throttled(
            follower,
            "fjord_replication_throttled_bytes_total",
            "follower",
        );
        assert!(
            counted >= 400_000.0,
            "broker {follower} counted {counted} bytes"
        );
    }
    let all = consume_all(&cluster.nodes[1].bootstrap, "throttled");
    assert_eq!(all.get(&0).map_or(0, Vec::len), msgs.len());
}
