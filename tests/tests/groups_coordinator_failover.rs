//! Consumer groups survive their coordinator's broker (issue 11): `__consumer_offsets` is
//! replicated, the coordinator of a group is the leader of its `__consumer_offsets`
//! partition, and it moves with that leadership, whether the broker is killed (-9) or shuts
//! down cleanly (SIGTERM, controlled shutdown).

use fjord_tests::*;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Forming, fencing, electing and loading take a few timeouts; allow slow machines.
const WAIT: Duration = Duration::from_secs(60);
const OFFSETS: &str = "__consumer_offsets";
const TOPIC: &str = "events";
const PARTITIONS: i32 = 3;
/// A dead follower leaves the ISR quickly, so the survivors' high watermark moves on.
const SETTINGS: &[(&str, &str)] = &[("replica.lag.time.max.ms", "1500")];

fn name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

/// The coordinator of `group` as `bootstrap` answers it: Ok(node id) or Err(error code).
fn find_coordinator(bootstrap: &str, group: &str) -> Result<i32, i16> {
    let mut conn = RawConn::connect(bootstrap);
    let r: FindCoordinatorResponse = conn.request(
        ApiKey::FindCoordinator,
        1,
        &FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.to_string())),
    );
    if r.error_code == 0 {
        Ok(r.node_id.0)
    } else {
        Err(r.error_code)
    }
}

/// Waits until `bootstrap` names a coordinator for `group` that `ok` accepts.
fn wait_for_coordinator(bootstrap: &str, group: &str, ok: impl Fn(i32) -> bool) -> i32 {
    let mut found = -1;
    wait_until(
        WAIT,
        &format!("a coordinator for {group}"),
        || match find_coordinator(bootstrap, group) {
            Ok(id) if ok(id) => {
                found = id;
                true
            }
            _ => false,
        },
    );
    found
}

/// The replica sets of every partition of `topic`, as `bootstrap` reports them.
fn replicas(bootstrap: &str, topic: &str) -> Vec<BTreeSet<i32>> {
    topic_metadata_on(bootstrap, topic)
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| p.replica_nodes.iter().map(|b| b.0).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// The committed offsets of `group` on `TOPIC` from broker `bootstrap`, once it answers
/// without error (it may still be loading or not yet know it coordinates the group).
fn fetch_offsets(bootstrap: &str, group: &str) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    wait_until(WAIT, &format!("OffsetFetch for {group} answers"), || {
        let mut conn = RawConn::connect(bootstrap);
        let r: OffsetFetchResponse = conn.request(
            ApiKey::OffsetFetch,
            5,
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
                .with_topics(None),
        );
        if r.error_code != 0 {
            return false;
        }
        out = r
            .topics
            .iter()
            .filter(|t| *t.name.0 == *TOPIC)
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.error_code == 0 && p.committed_offset >= 0)
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        true
    });
    out
}

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let mut cfg = client_config(bootstrap);
    cfg.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100");
    let c: BaseConsumer = cfg.create().expect("create consumer");
    c.subscribe(&[TOPIC]).expect("subscribe");
    c
}

/// What the members of the group consumed, and which of those records they committed.
#[derive(Default)]
struct Consumption {
    /// Every record delivered, in order: (partition, offset).
    delivered: Vec<(i32, i64)>,
    /// Records whose synchronous commit failed (they may be delivered again).
    uncommitted: BTreeSet<(i32, i64)>,
}

impl Consumption {
    fn distinct(&self) -> usize {
        self.delivered.iter().collect::<BTreeSet<_>>().len()
    }

    /// Polls every member in turn, committing each record synchronously, until `total`
    /// distinct records were delivered.
    fn until(&mut self, members: &[BaseConsumer], total: usize) {
        let deadline = std::time::Instant::now() + WAIT;
        while self.distinct() < total {
            assert!(
                std::time::Instant::now() < deadline,
                "consumed {} of {total} records",
                self.distinct()
            );
            for c in members {
                let Some(Ok(m)) = c.poll(Duration::from_millis(50)) else {
                    continue;
                };
                let key = (m.partition(), m.offset());
                self.delivered.push(key);
                if c.commit_message(&m, CommitMode::Sync).is_err() {
                    self.uncommitted.insert(key);
                }
            }
        }
    }
}

#[test]
fn a_group_survives_a_kill9_of_its_coordinator_without_rereading_committed_records() {
    let mut cluster = Cluster::start_with(3, SETTINGS);
    // Clients bootstrap from every node; raw requests go to one.
    let bootstrap = cluster.bootstrap();
    let node0 = cluster.nodes[0].bootstrap.clone();
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    let (code, message) = create_topic_on(&node0, TOPIC, PARTITIONS, 3);
    assert_eq!(code, 0, "{message:?}");
    let group = "survivors";
    let first = wait_for_coordinator(&node0, group, |_| true);
    // Created with offsets.topic.replication.factor = 3 (three brokers live).
    wait_until(
        WAIT,
        "__consumer_offsets has 3 replicas per partition",
        || {
            let r = replicas(&node0, OFFSETS);
            !r.is_empty() && r.iter().all(|set| set.len() == 3)
        },
    );

    produce_n(&bootstrap, TOPIC, 300, PARTITIONS);
    let members = [
        group_consumer(&bootstrap, group),
        group_consumer(&bootstrap, group),
    ];
    let mut seen = Consumption::default();
    seen.until(&members, 300);
    let coordinator = wait_for_coordinator(&node0, group, |_| true);
    assert!(
        (0..3).contains(&coordinator),
        "first {first}, now {coordinator}"
    );
    let before = fetch_offsets(&cluster.nodes[coordinator as usize].bootstrap, group);
    let committed_before: i64 = before.values().sum();
    assert_eq!(committed_before, 300, "every record committed: {before:?}");
    let delivered_before = seen.delivered.len();

    cluster.nodes[coordinator as usize].kill9();
    let survivor = if coordinator == 0 { 1 } else { 0 };
    let survivor_bootstrap = cluster.nodes[survivor].bootstrap.clone();
    let next = wait_for_coordinator(&survivor_bootstrap, group, |id| id != coordinator);
    let after = fetch_offsets(&cluster.nodes[next as usize].bootstrap, group);
    assert_eq!(after, before, "the new coordinator {next} has every commit");

    produce_n(&survivor_bootstrap, TOPIC, 300, PARTITIONS);
    seen.until(&members, 600);
    // Nothing committed before the kill is delivered again.
    let again: Vec<_> = seen.delivered[delivered_before..]
        .iter()
        .filter(|(p, o)| *o < before.get(p).copied().unwrap_or(0))
        .collect();
    assert!(again.is_empty(), "committed records re-read: {again:?}");
    // A record is delivered twice only if its commit failed.
    let mut counts: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for k in &seen.delivered {
        *counts.entry(*k).or_default() += 1;
    }
    let duplicates: Vec<_> = counts
        .iter()
        .filter(|(k, n)| **n > 1 && !seen.uncommitted.contains(k))
        .collect();
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    let end = fetch_offsets(&cluster.nodes[next as usize].bootstrap, group);
    assert_eq!(end.values().sum::<i64>(), 600, "{end:?}");
}

/// OffsetCommit with generation -1 (no group membership) from `bootstrap`.
fn commit(bootstrap: &str, group: &str, partition: i32, offset: i64) -> i16 {
    let mut conn = RawConn::connect(bootstrap);
    let r: OffsetCommitResponse = conn.request(
        ApiKey::OffsetCommit,
        5,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(name(TOPIC))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset)])]),
    );
    r.topics[0].partitions[0].error_code
}

#[test]
fn consumer_offsets_replicas_are_capped_at_live_brokers_and_sigterm_moves_coordination() {
    let mut cluster = Cluster::start_with(3, SETTINGS);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    let (code, message) = create_topic_on(&cluster.nodes[0].bootstrap, TOPIC, PARTITIONS, 3);
    assert_eq!(code, 0, "{message:?}");
    cluster.nodes[2].kill9();
    cluster.wait_for_brokers(0, &[0, 1], WAIT);
    let bootstrap = cluster.nodes[0].bootstrap.clone();
    let group = "movers";
    let coordinator = wait_for_coordinator(&bootstrap, group, |_| true);
    // offsets.topic.replication.factor is 3, but only two brokers are live.
    let sets = replicas(&bootstrap, OFFSETS);
    assert_eq!(sets.len(), 3, "{sets:?}");
    assert!(sets.iter().all(|s| s.len() == 2), "{sets:?}");

    let at = cluster.nodes[coordinator as usize].bootstrap.clone();
    wait_until(WAIT, "the coordinator takes a commit", || {
        commit(&at, group, 1, 42) == 0
    });
    let other = 1 - coordinator as usize;
    let other_bootstrap = cluster.nodes[other].bootstrap.clone();
    assert_eq!(
        commit(&other_bootstrap, group, 1, 43),
        16, // NOT_COORDINATOR
        "a follower of the group's partition does not serve it"
    );

    cluster.nodes[coordinator as usize].stop();
    let log = cluster.nodes[coordinator as usize].log();
    assert!(
        log.contains("no longer the coordinator"),
        "the stopping broker handed its groups over before it stopped:\n{log}"
    );
    let next = wait_for_coordinator(&other_bootstrap, group, |id| id != coordinator);
    assert_eq!(next, other as i32);
    assert_eq!(
        fetch_offsets(&other_bootstrap, group),
        BTreeMap::from([(1, 42)])
    );
}
