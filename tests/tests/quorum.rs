//! The replicated metadata quorum with real processes: clusters form, admin requests
//! reach the active controller from any broker, a new controller is elected when the
//! active one dies, a minority commits nothing, a lagging node catches up from a
//! snapshot, and a broker that stops heartbeating is fenced.

use fjord_tests::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const REQUEST_TIMED_OUT: i16 = 7;
const NOT_CONTROLLER: i16 = 41;
const INVALID_REPLICATION_FACTOR: i16 = 38;
/// Forming, electing and catching up take a few election timeouts; allow slow machines.
const QUORUM_WAIT: Duration = Duration::from_secs(30);

/// `(error code, leader)` of each partition of `topic` as `bootstrap` reports it.
fn leaders(bootstrap: &str, topic: &str) -> Option<Vec<(i16, i32)>> {
    let t = topic_metadata_on(bootstrap, topic)?;
    Some(
        t.partitions
            .iter()
            .map(|p| (p.error_code, p.leader_id.0))
            .collect(),
    )
}

fn wait_topic(bootstrap: &str, topic: &str, partitions: usize) {
    wait_until(QUORUM_WAIT, &format!("{bootstrap} knows {topic}"), || {
        leaders(bootstrap, topic)
            .is_some_and(|l| l.len() == partitions && l.iter().all(|(e, l)| *e == 0 && *l >= 0))
    });
}

#[test]
fn three_nodes_form_a_cluster_and_every_broker_lists_all_three() {
    let mut cluster = Cluster::start(3);
    for i in 0..3 {
        cluster.wait_for_brokers(i, &[0, 1, 2], QUORUM_WAIT);
    }
    let controller = cluster.wait_for_controller(0, QUORUM_WAIT);
    for i in 1..3 {
        assert_eq!(cluster.controller_seen_by(i), controller);
    }
    // librdkafka sees the same three brokers.
    let consumer: BaseConsumer = consumer_config(&cluster.bootstrap())
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .expect("metadata");
    let ids: BTreeSet<i32> = md.brokers().iter().map(|b| b.id()).collect();
    assert_eq!(ids, BTreeSet::from([0, 1, 2]));
}

#[test]
fn a_topic_created_through_any_broker_lands_on_all_and_serves_clients() {
    let mut cluster = Cluster::start(3);
    for i in 0..3 {
        cluster.wait_for_brokers(i, &[0, 1, 2], QUORUM_WAIT);
    }
    let (code, message) = create_topic_on(&cluster.nodes[2].bootstrap, "spread", 6, 1);
    assert_eq!(code, 0, "{message:?}");
    for i in 0..3 {
        wait_topic(&cluster.nodes[i].bootstrap, "spread", 6);
    }
    let placed = leaders(&cluster.nodes[0].bootstrap, "spread").expect("topic");
    let used: BTreeSet<i32> = placed.iter().map(|(_, l)| *l).collect();
    assert!(used.len() > 1, "partitions spread over brokers: {placed:?}");
    for (p, (_, leader)) in placed.iter().enumerate() {
        let node = &cluster.nodes[*leader as usize];
        wait_until(
            QUORUM_WAIT,
            "the leader created the partition's log",
            || node.data_dir.join(format!("spread-{p}")).is_dir(),
        );
        for other in cluster.nodes.iter().filter(|n| n.data_dir != node.data_dir) {
            assert!(!other.data_dir.join(format!("spread-{p}")).exists());
        }
    }
    let bootstrap = cluster.bootstrap();
    produce_n(&bootstrap, "spread", 60, 6);
    let consumed: usize = consume_all(&bootstrap, "spread")
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(consumed, 60);

    // More replicas than brokers is refused, saying so.
    let (code, message) = create_topic_on(&cluster.nodes[1].bootstrap, "replicated", 1, 4);
    assert_eq!(code, INVALID_REPLICATION_FACTOR);
    assert!(message.unwrap_or_default().contains("larger than"));
}

#[test]
fn killing_the_active_controller_elects_another_and_the_old_one_catches_up() {
    let mut cluster = Cluster::start(3);
    let old = cluster.wait_for_controller(0, QUORUM_WAIT) as usize;
    cluster.nodes[old].kill9();
    let survivor = (old + 1) % 3;
    wait_until(QUORUM_WAIT, "a new controller", || {
        let c = cluster.controller_seen_by(survivor);
        c >= 0 && c != old as i32
    });
    let (code, message) = create_topic_on(&cluster.nodes[survivor].bootstrap, "after", 2, 1);
    assert_eq!(code, 0, "{message:?}");
    cluster.nodes[old].start_again();
    wait_topic(&cluster.nodes[old].bootstrap, "after", 2);
    cluster.wait_for_brokers(old, &[0, 1, 2], QUORUM_WAIT);
}

#[test]
fn a_minority_cannot_commit_and_nothing_is_created_after_it_recovers() {
    let mut cluster = Cluster::start(3);
    for i in 0..3 {
        cluster.wait_for_brokers(i, &[0, 1, 2], QUORUM_WAIT);
    }
    let lone = 0;
    cluster.nodes[1].kill9();
    cluster.nodes[2].kill9();
    let started = Instant::now();
    let (code, message) = create_topic_on(&cluster.nodes[lone].bootstrap, "minority", 1, 1);
    assert!(
        code == REQUEST_TIMED_OUT || code == NOT_CONTROLLER,
        "code {code}: {message:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    cluster.nodes[1].launch_again();
    cluster.nodes[2].launch_again();
    cluster.nodes[1].wait_ready();
    cluster.nodes[2].wait_ready();
    for i in 0..3 {
        cluster.wait_for_brokers(i, &[0, 1, 2], QUORUM_WAIT);
    }
    // The cluster works again, and the refused topic was never created.
    let (code, message) = create_topic_on(&cluster.nodes[lone].bootstrap, "later", 1, 1);
    assert_eq!(code, 0, "{message:?}");
    for i in 0..3 {
        wait_topic(&cluster.nodes[i].bootstrap, "later", 1);
        assert!(leaders(&cluster.nodes[i].bootstrap, "minority").is_none());
    }
}

#[test]
fn a_restarted_node_catches_up_from_a_snapshot_after_the_log_was_purged() {
    let mut cluster = Cluster::start_with(
        3,
        &[("metadata.log.max.record.bytes.between.snapshots", "4000")],
    );
    let controller = cluster.wait_for_controller(0, QUORUM_WAIT) as usize;
    let lagging = (controller + 1) % 3;
    let other = (controller + 2) % 3;
    cluster.nodes[lagging].stop();
    for t in 0..20 {
        let (code, message) =
            create_topic_on(&cluster.nodes[other].bootstrap, &format!("snap-{t}"), 1, 1);
        assert_eq!(code, 0, "{message:?}");
    }
    let leader_dir = cluster.nodes[controller].data_dir.join("cluster-metadata");
    wait_until(
        QUORUM_WAIT,
        "the controller snapshotted and purged its log",
        || {
            leader_dir.join("snapshot.json").is_file()
                && cluster.nodes[controller]
                    .log()
                    .contains("metadata log purged")
        },
    );
    cluster.nodes[lagging].start_again();
    for t in 0..20 {
        wait_topic(&cluster.nodes[lagging].bootstrap, &format!("snap-{t}"), 1);
    }
    assert!(
        cluster.nodes[lagging]
            .log()
            .contains("installed a metadata snapshot"),
        "{}",
        cluster.nodes[lagging].log()
    );
}

#[test]
fn a_broker_that_stops_heartbeating_is_fenced_and_comes_back() {
    let cluster = Cluster::start(3);
    for i in 0..3 {
        cluster.wait_for_brokers(i, &[0, 1, 2], QUORUM_WAIT);
    }
    let controller = cluster.wait_for_controller(0, QUORUM_WAIT) as usize;
    let frozen = (controller + 1) % 3;
    let pid = nix::unistd::Pid::from_raw(cluster.nodes[frozen].pid().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
    let live: Vec<i32> = (0..3).filter(|i| *i != frozen as i32).collect();
    let started = Instant::now();
    cluster.wait_for_brokers(controller, &live, QUORUM_WAIT);
    // Fenced after the session timeout, not before (allowing for heartbeat slack).
    assert!(started.elapsed() >= Duration::from_millis(SESSION_TIMEOUT_MS / 2));
    assert!(cluster.nodes[controller].log().contains("fenced broker"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).expect("SIGCONT");
    cluster.wait_for_brokers(controller, &[0, 1, 2], QUORUM_WAIT);
}

#[test]
fn five_nodes_form_a_cluster() {
    let cluster = Cluster::start(5);
    for i in 0..5 {
        cluster.wait_for_brokers(i, &[0, 1, 2, 3, 4], QUORUM_WAIT);
    }
}

#[test]
fn a_pre_quorum_data_directory_is_upgraded_in_place() {
    use fjord_broker::metadata::{LineFile, MetadataRecord};
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    // The record log a single-node Fjord wrote before the quorum: bare records.
    let (mut log, _) =
        LineFile::open::<MetadataRecord>(&data.join("cluster-metadata/metadata.log"))
            .expect("open");
    log.append(
        &[
            MetadataRecord::ClusterFormatted {
                cluster_id: "oldClusterIdAAAAAAAAAA".into(),
            },
            MetadataRecord::TopicCreated {
                name: "kept".into(),
                id: uuid::Uuid::new_v4(),
                replicas: vec![vec![0], vec![0]],
                configs: Default::default(),
            },
        ],
        true,
    )
    .expect("append");
    drop(log);
    let mut broker = Broker::start_with_options(&[], Some(data.clone()), None);
    wait_topic(&broker.bootstrap, "kept", 2);
    produce_n(&broker.bootstrap, "kept", 10, 2);
    assert!(
        broker
            .log()
            .contains("imported the pre-quorum metadata log"),
        "{}",
        broker.log()
    );
    let props = std::fs::read_to_string(data.join("meta.properties")).expect("meta.properties");
    assert!(
        props.contains("cluster.id=oldClusterIdAAAAAAAAAA"),
        "{props}"
    );
    broker.restart();
    let consumed: usize = consume_all(&broker.bootstrap, "kept")
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(consumed, 10);
    let log = broker.log();
    let this_start = &log[log.rfind("=== fjord-test: start").unwrap_or(0)..];
    assert!(
        !this_start.contains("formatted a new cluster"),
        "{this_start}"
    );
}

fn scrape(metrics_addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(metrics_addr).expect("connect metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

#[test]
fn metrics_name_the_active_controller_and_count_fenced_brokers() {
    let mut cluster = Cluster::start(3);
    for i in 0..3 {
        cluster.wait_for_brokers(i, &[0, 1, 2], QUORUM_WAIT);
    }
    let controller = cluster.wait_for_controller(0, QUORUM_WAIT) as usize;
    for (i, node) in cluster.nodes.iter().enumerate() {
        let text = scrape(&node.metrics_addr);
        let want = format!(
            "fjord_metadata_active_controller {}",
            u8::from(i == controller)
        );
        assert!(text.contains(&want), "node {i}: {text}");
        assert!(
            text.contains(&format!("fjord_metadata_quorum_leader {controller}")),
            "{text}"
        );
    }
    let text = scrape(&cluster.nodes[controller].metrics_addr);
    assert!(text.contains("fjord_metadata_follower_lag{node="), "{text}");
    let quiet = (controller + 1) % 3;
    cluster.nodes[quiet].kill9();
    wait_until(QUORUM_WAIT, "one fenced broker", || {
        scrape(&cluster.nodes[controller].metrics_addr).contains("fjord_metadata_fenced_brokers 1")
    });
}

#[test]
fn a_consumer_group_on_a_cluster_is_coordinated_by_the_broker_holding_its_offsets() {
    use rdkafka::consumer::CommitMode;
    use rdkafka::Message;
    let mut cluster = Cluster::start_with(3, &[("group.initial.rebalance.delay.ms", "0")]);
    for i in 0..3 {
        cluster.wait_for_brokers(i, &[0, 1, 2], QUORUM_WAIT);
    }
    let (code, message) = create_topic_on(&cluster.nodes[0].bootstrap, "grouped", 3, 1);
    assert_eq!(code, 0, "{message:?}");
    for i in 0..3 {
        wait_topic(&cluster.nodes[i].bootstrap, "grouped", 3);
    }
    let bootstrap = cluster.bootstrap();
    produce_n(&bootstrap, "grouped", 30, 3);
    let consumer: BaseConsumer = client_config(&bootstrap)
        .set("group.id", "cluster-group")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("group consumer");
    consumer.subscribe(&["grouped"]).expect("subscribe");
    let mut seen = 0;
    let deadline = Instant::now() + QUORUM_WAIT;
    while seen < 30 {
        assert!(Instant::now() < deadline, "consumed only {seen} of 30");
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            assert!(m.payload().is_some());
            seen += 1;
        }
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit through the coordinator");
}
