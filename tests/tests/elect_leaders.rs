//! Preferred and unclean leader elections with real broker processes (issue 11): ElectLeaders
//! (API 43) sent to a broker that is not the controller moves leadership back to the preferred
//! replica, `auto.leader.rebalance.enable` does it on its own (and does not when off), an
//! UNCLEAN election gives a leaderless partition its only live, out-of-sync replica, and
//! without ALTER on the cluster the request is refused.

use fjord_tests::*;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const WAIT: Duration = REPLICATION_WAIT;
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;
const NOT_NEEDED: i16 = 84;
const PREFERRED_NOT_AVAILABLE: i16 = 80;
const INVALID_REQUEST: i16 = 42;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;

/// ElectLeaders at `version` to exactly this broker; `partitions: None` asks for all.
fn elect(
    bootstrap: &str,
    version: i16,
    election_type: i8,
    partitions: Option<&[(&str, &[i32])]>,
) -> ElectLeadersResponse {
    let topics = partitions.map(|ps| {
        ps.iter()
            .map(|(t, p)| {
                TopicPartitions::default()
                    .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(p.to_vec())
            })
            .collect()
    });
    let mut conn = RawConn::connect(bootstrap);
    conn.request(
        ApiKey::ElectLeaders,
        version,
        &ElectLeadersRequest::default()
            .with_election_type(election_type)
            .with_topic_partitions(topics)
            .with_timeout_ms(30_000),
    )
}

/// `(topic, partition, code)` for every result.
fn codes(resp: &ElectLeadersResponse) -> Vec<(String, i32, i16)> {
    resp.replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(|p| (t.topic.0.to_string(), p.partition_id, p.error_code))
        })
        .collect()
}

fn one(topic: &str, code: i16) -> Vec<(String, i32, i16)> {
    vec![(topic.to_string(), 0, code)]
}

/// Asserts that `cond` stays true for `period`, polling.
fn stays(period: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + period;
    while Instant::now() < end {
        assert!(cond(), "no longer true: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A three-node cluster with `topic` on replicas [1, 2, 0], whose preferred leader (node 1)
/// was killed and came back: in sync again, but another replica leads.
fn cluster_with_moved_leadership(rebalance: &str, topic: &str) -> Cluster {
    let mut cluster = Cluster::start_with(
        3,
        &[
            ("auto.leader.rebalance.enable", rebalance),
            ("leader.imbalance.check.interval.seconds", "1"),
            ("replica.lag.time.max.ms", "1500"),
        ],
    );
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    create_replicated(&cluster.nodes[0].bootstrap, topic, 3, &[1, 2, 0]);
    cluster.wait_for_partition(0, topic, "the preferred replica leads", |l, _, isr| {
        l == 1 && isr.len() == 3
    });
    cluster.nodes[1].kill9();
    cluster.wait_for_partition(0, topic, "another replica leads", |l, _, _| {
        l >= 0 && l != 1
    });
    cluster.nodes[1].launch_again();
    cluster.nodes[1].wait_ready();
    cluster
}

#[test]
fn a_preferred_election_through_a_non_controller_broker_moves_leadership_back() {
    let cluster = cluster_with_moved_leadership("false", "pref");
    let (leader, _, _) =
        cluster.wait_for_partition(0, "pref", "node 1 back in sync", |_, _, isr| isr.len() == 3);
    assert_ne!(leader, 1, "leadership stayed where failover put it");
    // With the rebalance off (and a 1 s interval), nothing moves it back.
    stays(
        Duration::from_secs(3),
        "leadership stays off the preferred replica",
        || {
            partition_state(&cluster.nodes[0].bootstrap, "pref")
                .is_some_and(|(l, _, _)| l == leader)
        },
    );
    let controller = cluster.wait_for_controller(0, WAIT);
    let via = (0..3)
        .find(|&i| i != controller as usize)
        .expect("a non-controller");
    let bootstrap = cluster.nodes[via].bootstrap.clone();

    let resp = elect(&bootstrap, 2, PREFERRED, Some(&[("pref", &[0])]));
    assert_eq!(resp.error_code, 0);
    assert_eq!(codes(&resp), one("pref", 0));
    // Answered after the commit: this very broker already shows the new leader.
    let (l, _, isr) = partition_state(&bootstrap, "pref").expect("metadata");
    assert_eq!((l, isr.len()), (1, 3), "the preferred replica leads again");

    // The new leader reports each follower's lag.
    wait_until(WAIT, "node 1 reports its followers' lag", || {
        let text = metrics_text(&cluster.nodes[1].metrics_addr);
        [0, 2].iter().all(|r| {
            let labels = format!("{{topic=\"pref\",partition=\"0\",replica=\"{r}\"}}");
            text.contains(&format!("fjord_replica_lag_records{labels} "))
                && text.contains(&format!("fjord_replica_lag_seconds{labels} "))
        })
    });

    let again = elect(&bootstrap, 1, PREFERRED, Some(&[("pref", &[0])]));
    assert_eq!(codes(&again), one("pref", NOT_NEEDED));

    let mixed = elect(
        &bootstrap,
        2,
        PREFERRED,
        Some(&[("pref", &[0, 0]), ("nope", &[0]), ("pref", &[5])]),
    );
    assert_eq!(
        codes(&mixed),
        vec![
            ("pref".into(), 0, INVALID_REQUEST),
            ("pref".into(), 0, INVALID_REQUEST),
            ("nope".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
            ("pref".into(), 5, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    // Every partition: only those that needed an election are answered, and "pref" did not.
    let all = elect(&bootstrap, 0, PREFERRED, None);
    assert!(
        codes(&all).iter().all(|(t, _, _)| t != "pref"),
        "{:?}",
        codes(&all)
    );
}

#[test]
fn auto_leader_rebalance_moves_leadership_back_to_the_preferred_replica() {
    let cluster = cluster_with_moved_leadership("true", "auto");
    let (leader, _, isr) =
        cluster.wait_for_partition(0, "auto", "the preferred replica leads again", |l, _, _| {
            l == 1
        });
    assert_eq!(leader, 1);
    assert!(
        isr.contains(&1),
        "only an in-sync preferred replica is elected"
    );
    let controller = cluster.wait_for_controller(0, WAIT) as usize;
    wait_until(WAIT, "no partition off its preferred leader", || {
        gauge(
            &cluster.nodes[controller].metrics_addr,
            "fjord_preferred_replica_imbalance_count",
        ) == 0.0
    });
    assert!(
        gauge(&cluster.nodes[1].metrics_addr, "fjord_leader_count") >= 1.0,
        "node 1 leads again"
    );
}

#[test]
fn an_unclean_election_gives_a_leaderless_partition_its_live_out_of_sync_replica() {
    let mut cluster = Cluster::start_with(
        3,
        &[
            ("auto.leader.rebalance.enable", "false"),
            ("replica.lag.time.max.ms", "1500"),
        ],
    );
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    create_replicated(&cluster.nodes[0].bootstrap, "unclean", 2, &[1, 2]);
    cluster.wait_for_partition(0, "unclean", "both in sync", |l, _, isr| {
        l == 1 && isr.len() == 2
    });
    // Node 2 drops out of the ISR, then the leader dies: only node 1 held every record.
    cluster.nodes[2].kill9();
    cluster.wait_for_partition(0, "unclean", "node 2 out of the ISR", |_, _, isr| {
        *isr == BTreeSet::from([1])
    });
    cluster.nodes[1].kill9();
    cluster.nodes[2].launch_again();
    cluster.nodes[2].wait_ready();
    cluster.wait_for_brokers(0, &[0, 2], WAIT);
    cluster.wait_for_partition(
        0,
        "unclean",
        "leaderless, node 1 the last in sync",
        |l, _, isr| l == -1 && *isr == BTreeSet::from([1]),
    );
    let b = cluster.nodes[0].bootstrap.clone();

    let preferred = elect(&b, 2, PREFERRED, Some(&[("unclean", &[0])]));
    assert_eq!(codes(&preferred), one("unclean", PREFERRED_NOT_AVAILABLE));
    let resp = elect(&b, 2, UNCLEAN, Some(&[("unclean", &[0])]));
    assert_eq!(codes(&resp), one("unclean", 0));
    let (l, _, isr) = partition_state(&b, "unclean").expect("metadata");
    assert_eq!(
        (l, isr),
        (2, BTreeSet::from([2])),
        "the out-of-sync replica leads alone"
    );
    let again = elect(&b, 2, UNCLEAN, Some(&[("unclean", &[0])]));
    assert_eq!(codes(&again), one("unclean", NOT_NEEDED));
}

#[test]
fn elect_leaders_needs_alter_on_the_cluster() {
    let broker = Broker::start_with(&[(
        "authorizer.class.name",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    )]);
    let b = broker.bootstrap.as_str();
    let v1 = elect(b, 1, PREFERRED, Some(&[("any", &[0, 1])]));
    assert_eq!(v1.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(
        codes(&v1),
        vec![
            ("any".into(), 0, CLUSTER_AUTHORIZATION_FAILED),
            ("any".into(), 1, CLUSTER_AUTHORIZATION_FAILED),
        ]
    );
    let v0 = elect(b, 0, PREFERRED, Some(&[("any", &[0])]));
    assert_eq!(v0.error_code, 0, "v0 has no top-level error code");
    assert_eq!(codes(&v0), one("any", CLUSTER_AUTHORIZATION_FAILED));
    let all = elect(b, 2, PREFERRED, None);
    assert_eq!(all.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(all.replica_election_results.is_empty());
}

/// Runs the `fjord` CLI (built beside the broker) against `bootstrap`.
fn fjord(bootstrap: &str, args: &[&str]) -> std::process::Output {
    let bin = broker_bin().with_file_name("fjord");
    assert!(bin.exists(), "run `cargo build -p fjord-cli` first");
    std::process::Command::new(bin)
        .arg("--bootstrap")
        .arg(bootstrap)
        .args(args)
        .env_remove("FJORD_BOOTSTRAP")
        .output()
        .expect("run fjord")
}

/// `fjord elect-leaders --election-type TYPE ARGS...`, asserting its exit code.
fn elect_cli(bootstrap: &str, kind: &str, args: &[&str], exit: i32) -> std::process::Output {
    let mut all = vec!["elect-leaders", "--election-type", kind];
    all.extend_from_slice(args);
    let out = fjord(bootstrap, &all);
    assert_eq!(
        out.status.code(),
        Some(exit),
        "fjord {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_cli_elects_the_preferred_leader_and_tells_not_needed_and_missing_apart() {
    let cluster = cluster_with_moved_leadership("false", "cli");
    cluster.wait_for_partition(0, "cli", "node 1 back in sync", |l, _, isr| {
        l != 1 && isr.len() == 3
    });
    let b = cluster.nodes[0].bootstrap.clone();
    let out = elect_cli(&b, "preferred", &["--topic", "cli", "-o", "json"], 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["election_type"], "preferred");
    assert_eq!(v["partitions"][0]["topic"], "cli");
    assert_eq!(v["partitions"][0]["result"], "elected", "{v}");
    let (l, _, _) = partition_state(&b, "cli").expect("metadata");
    assert_eq!(l, 1, "the preferred replica leads");

    let again = elect_cli(&b, "PREFERRED", &["--topic", "cli", "--partition", "0"], 0);
    assert!(String::from_utf8_lossy(&again.stdout).contains("not_needed"));
    // A partition that does not exist: 3; every partition: 0; no scope: usage, 2.
    elect_cli(&b, "preferred", &["--topic", "cli", "--partition", "9"], 3);
    elect_cli(&b, "preferred", &["--all-topic-partitions"], 0);
    elect_cli(&b, "preferred", &[], 2);
}
