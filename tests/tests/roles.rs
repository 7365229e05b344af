//! Separate roles with real processes (`process.roles`): three controller-only nodes form
//! the metadata quorum, two broker-only nodes follow it as observers and serve clients.

use fjord_tests::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeClusterResponse, DescribeQuorumRequest,
    DescribeQuorumResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const QUORUM_WAIT: Duration = Duration::from_secs(30);
/// Node ids: 0, 1, 2 are controller-only, 3 and 4 broker-only.
const CONTROLLERS: usize = 3;
const BROKERS: [usize; 2] = [3, 4];

/// `(leader, voters, observers)` of the metadata quorum as `bootstrap` reports it.
fn quorum(bootstrap: &str) -> Option<(i32, BTreeSet<i32>, BTreeSet<i32>)> {
    let mut conn = RawConn::connect(bootstrap);
    let r: DescribeQuorumResponse = conn.request(
        ApiKey::DescribeQuorum,
        1,
        &DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]),
    );
    let p = r.topics.first()?.partitions.first()?;
    if r.error_code != 0 || p.error_code != 0 {
        return None;
    }
    let ids = |v: &[kafka_protocol::messages::describe_quorum_response::ReplicaState]| {
        v.iter().map(|r| r.replica_id.0).collect::<BTreeSet<i32>>()
    };
    Some((p.leader_id.0, ids(&p.current_voters), ids(&p.observers)))
}

/// Waits until `bootstrap` reports a quorum `ok` accepts, and returns it.
fn wait_quorum(
    bootstrap: &str,
    what: &str,
    mut ok: impl FnMut(i32, &BTreeSet<i32>, &BTreeSet<i32>) -> bool,
) -> (i32, BTreeSet<i32>, BTreeSet<i32>) {
    let mut last = None;
    wait_until(QUORUM_WAIT, what, || {
        last = quorum(bootstrap);
        last.as_ref().is_some_and(|(l, v, o)| ok(*l, v, o))
    });
    last.expect("a quorum")
}

fn brokers_bootstrap(cluster: &Cluster) -> String {
    BROKERS
        .iter()
        .map(|&b| cluster.nodes[b].bootstrap.clone())
        .collect::<Vec<_>>()
        .join(",")
}

/// The replicas of partition 0 of `topic` as `bootstrap` reports them.
fn replicas(bootstrap: &str, topic: &str) -> Option<BTreeSet<i32>> {
    let t = topic_metadata_on(bootstrap, topic)?;
    let p = t.partitions.first()?;
    (p.error_code == 0 && p.leader_id.0 >= 0).then(|| p.replica_nodes.iter().map(|b| b.0).collect())
}

fn wait_replicas(bootstrap: &str, topic: &str) -> BTreeSet<i32> {
    let mut last = None;
    wait_until(QUORUM_WAIT, &format!("{bootstrap} knows {topic}"), || {
        last = replicas(bootstrap, topic);
        last.is_some()
    });
    last.unwrap_or_default()
}

/// The live brokers `bootstrap` lists in Metadata, and the controller id it names.
fn listed_brokers(bootstrap: &str) -> (BTreeSet<i32>, i32) {
    let mut conn = RawConn::connect(bootstrap);
    let m: MetadataResponse = conn.request(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(Vec::new())),
    );
    (
        m.brokers.iter().map(|b| b.node_id.0).collect(),
        m.controller_id.0,
    )
}

/// Polls for `window` that both brokers stay listed as live by each of them: a broker
/// whose heartbeats the active controller missed would be fenced after the session timeout.
fn brokers_stay_live(cluster: &Cluster, window: Duration) {
    let until = Instant::now() + window;
    while Instant::now() < until {
        for b in BROKERS {
            let (listed, _) = listed_brokers(&cluster.nodes[b].bootstrap);
            assert_eq!(listed, BTreeSet::from([3, 4]), "node {b} lists {listed:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn controller_only_and_broker_only_nodes_form_a_cluster_that_survives_losing_its_controller() {
    let mut cluster = Cluster::start_separate(CONTROLLERS, BROKERS.len(), &[]);
    // Only the brokers are brokers: the controllers never register. The controller id
    // clients are given is a live broker, as Kafka's KRaft brokers answer.
    for b in BROKERS {
        cluster.wait_for_brokers(b, &[3, 4], QUORUM_WAIT);
        let (listed, controller) = listed_brokers(&cluster.nodes[b].bootstrap);
        assert_eq!(listed, BTreeSet::from([3, 4]));
        assert!(
            listed.contains(&controller),
            "Metadata names controller {controller}"
        );
    }
    let b3 = cluster.nodes[3].bootstrap.clone();
    // Picked at random per request, as Kafka does: over 40 answers both brokers are named
    // (one alone would come up with probability 2^-39).
    let named: BTreeSet<i32> = (0..40).map(|_| listed_brokers(&b3).1).collect();
    assert_eq!(named, BTreeSet::from([3, 4]));
    let mut conn = RawConn::connect(&b3);
    let described: DescribeClusterResponse = conn.request(
        ApiKey::DescribeCluster,
        0,
        &DescribeClusterRequest::default(),
    );
    let listed: BTreeSet<i32> = described.brokers.iter().map(|b| b.broker_id.0).collect();
    assert_eq!(listed, BTreeSet::from([3, 4]));
    assert!(
        listed.contains(&described.controller_id.0),
        "DescribeCluster names a controller clients can reach: {}",
        described.controller_id.0
    );
    // The controllers vote; the brokers observe.
    let (leader, _, _) = wait_quorum(&b3, "voters 0-2 and observers 3, 4", |l, v, o| {
        l >= 0 && *v == BTreeSet::from([0, 1, 2]) && *o == BTreeSet::from([3, 4])
    });
    assert!((0..3).contains(&leader), "leader {leader}");
    // A broker cannot be made a voter: it has no controller listener and is no controller.
    let (code, message) = add_voter(&b3, 4, cluster.controller_ports[0]);
    assert_eq!(code, ResponseError::InvalidRequest.code(), "{message:?}");
    let (_, voters, observers) = wait_quorum(&b3, "the quorum", |l, _, _| l >= 0);
    assert_eq!(voters, BTreeSet::from([0, 1, 2]));
    assert_eq!(observers, BTreeSet::from([3, 4]));

    // A controller serves no Kafka clients: its only listener is the controller listener,
    // which drops a Kafka request without answering and goes on serving the quorum.
    for c in 0..CONTROLLERS {
        let mut conn = RawConn::connect(&cluster.nodes[c].bootstrap);
        conn.send_raw_request(ApiKey::ApiVersions as i16, 3, &[0, 0, 0]);
        assert_eq!(
            conn.closed_within(Duration::from_secs(10)),
            Ok(()),
            "controller {c} answered a Kafka request"
        );
        assert!(cluster.nodes[c].is_running(), "controller {c} exited");
    }

    // A topic with RF 2 created through a broker lands on both brokers.
    let (code, message) = create_topic_on(&b3, "both", 1, 2);
    assert_eq!(code, 0, "{message:?}");
    for b in BROKERS {
        let bootstrap = cluster.nodes[b].bootstrap.clone();
        assert_eq!(wait_replicas(&bootstrap, "both"), BTreeSet::from([3, 4]));
        let dir = cluster.nodes[b].data_dir.join("both-0");
        wait_until(QUORUM_WAIT, "the broker created the log", || dir.is_dir());
    }
    for c in 0..CONTROLLERS {
        assert!(!cluster.nodes[c].data_dir.join("both-0").exists());
    }
    let bootstrap = brokers_bootstrap(&cluster);
    produce_n(&bootstrap, "both", 40, 1);
    let consumed: usize = consume_all(&bootstrap, "both").values().map(Vec::len).sum();
    assert_eq!(consumed, 40);

    // kill -9 the active controller: another controller takes over, the brokers heartbeat
    // to it (none is fenced over several session timeouts), and it creates topics.
    cluster.nodes[leader as usize].kill9();
    let b4 = cluster.nodes[4].bootstrap.clone();
    let (next, _, _) = wait_quorum(&b4, "a new active controller", |l, _, _| {
        l >= 0 && l != leader
    });
    assert!((0..3).contains(&next), "leader {next}");
    brokers_stay_live(&cluster, Duration::from_millis(3 * SESSION_TIMEOUT_MS));
    let next_log = cluster.nodes[next as usize].log();
    assert!(!next_log.contains("fenced broker"), "{next_log}");
    let (code, message) = create_topic_on(&b4, "after", 1, 2);
    assert_eq!(code, 0, "{message:?}");
    for b in BROKERS {
        let bootstrap = cluster.nodes[b].bootstrap.clone();
        assert_eq!(wait_replicas(&bootstrap, "after"), BTreeSet::from([3, 4]));
    }
    produce_n(&bootstrap, "after", 30, 1);
    let consumed: usize = consume_all(&bootstrap, "after")
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(consumed, 30);
}

#[test]
fn a_broker_only_node_restarted_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start_separate(
        CONTROLLERS,
        BROKERS.len(),
        &[("metadata.log.max.record.bytes.between.snapshots", "4000")],
    );
    cluster.wait_for_brokers(3, &[3, 4], QUORUM_WAIT);
    let b3 = cluster.nodes[3].bootstrap.clone();
    let (leader, _, _) = wait_quorum(&b3, "observers 3, 4", |l, _, o| {
        l >= 0 && *o == BTreeSet::from([3, 4])
    });
    cluster.nodes[4].kill9();
    for t in 0..20 {
        let (code, message) = create_topic_on(&b3, &format!("snap-{t}"), 1, 1);
        assert_eq!(code, 0, "{message:?}");
    }
    let leader = &cluster.nodes[leader as usize];
    let leader_dir = leader.data_dir.join("cluster-metadata");
    wait_until(
        QUORUM_WAIT,
        "the controller snapshotted and purged its log",
        || {
            leader_dir.join("snapshot.json").is_file()
                && leader.log().contains("metadata log purged")
        },
    );
    // With a broker gone for good the voters' quorum is unchanged.
    let (_, voters, _) = wait_quorum(&b3, "the quorum", |l, _, _| l >= 0);
    assert_eq!(voters, BTreeSet::from([0, 1, 2]));

    let first_run = cluster.nodes[4].log().len();
    cluster.nodes[4].start_again();
    let b4 = cluster.nodes[4].bootstrap.clone();
    for t in 0..20 {
        wait_replicas(&b4, &format!("snap-{t}"));
    }
    let log = cluster.nodes[4].log();
    assert!(
        log[first_run..].contains("installed a metadata snapshot from the leader"),
        "{log}"
    );
    cluster.wait_for_brokers(4, &[3, 4], QUORUM_WAIT);
    let (code, message) = create_topic_on(&b4, "later", 1, 2);
    assert_eq!(code, 0, "{message:?}");
    assert_eq!(wait_replicas(&b3, "later"), BTreeSet::from([3, 4]));
}

#[test]
fn a_broker_only_node_finds_the_quorum_through_its_bootstrap_servers() {
    let cluster = Cluster::start_separate(CONTROLLERS, 1, &[]);
    let bootstrap_servers: Vec<String> = cluster
        .controller_ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let bootstrap_servers = bootstrap_servers.join(",");
    let session = SESSION_TIMEOUT_MS.to_string();
    // No controller.quorum.voters: the voters are learnt from the controllers (KIP-853).
    let mut late = Broker::launch_with(&[
        ("node.id", "7"),
        ("process.roles", "broker"),
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("controller.quorum.bootstrap.servers", &bootstrap_servers),
        ("broker.session.timeout.ms", &session),
        ("broker.heartbeat.interval.ms", "300"),
    ]);
    late.wait_ready();
    cluster.wait_for_brokers(3, &[3, 7], QUORUM_WAIT);
    let b7 = late.bootstrap.clone();
    wait_quorum(&b7, "voters 0-2 and observers 3, 7", |l, v, o| {
        l >= 0 && *v == BTreeSet::from([0, 1, 2]) && *o == BTreeSet::from([3, 7])
    });
    let (code, message) = create_topic_on(&b7, "late", 1, 2);
    assert_eq!(code, 0, "{message:?}");
    assert_eq!(
        wait_replicas(&cluster.nodes[3].bootstrap, "late"),
        BTreeSet::from([3, 7])
    );
}

/// Starts a node with `settings`, waits for it to exit and returns its log.
fn refused_at_start(settings: &[(&str, &str)]) -> String {
    let mut node = Broker::launch_with(settings);
    wait_until(QUORUM_WAIT, "the node exits", || !node.is_running());
    node.log()
}

#[test]
fn inconsistent_separate_roles_are_refused_at_start() {
    let log = refused_at_start(&[
        ("process.roles", "controller"),
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        ),
        ("controller.quorum.voters", "0@127.0.0.1:9"),
    ]);
    assert!(log.contains("may only name controller listeners"), "{log}");
    let log = refused_at_start(&[
        ("process.roles", "broker"),
        ("node.id", "1"),
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("controller.quorum.voters", "0@127.0.0.1:9,1@127.0.0.1:10"),
    ]);
    assert!(log.contains("a broker-only node never votes"), "{log}");
    let log = refused_at_start(&[
        ("process.roles", "broker"),
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
    ]);
    assert!(log.contains("needs controller.quorum.voters"), "{log}");
}
