//! Kafka 4.x mixed groups end to end: a librdkafka consumer speaking the classic
//! protocol (JoinGroup/SyncGroup/Heartbeat) and one speaking KIP-848
//! (`group.protocol=consumer`) in the same live group share a topic's partitions, each
//! partition owned by exactly one of them, every record read once; members then roll
//! from classic to consumer and back while the group stays live.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use fjord_tests::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;
const TOPIC: &str = "mixed";
const GROUP: &str = "g-mixed";

fn broker() -> Broker {
    Broker::start_with(&[
        ("group.initial.rebalance.delay.ms", "0"),
        // Below Kafka's bounds (45 s / 5 s), so the bounds move too, as Kafka requires.
        ("group.consumer.min.session.timeout.ms", "6000"),
        ("group.consumer.session.timeout.ms", "6000"),
        ("group.consumer.min.heartbeat.interval.ms", "500"),
        ("group.consumer.heartbeat.interval.ms", "500"),
    ])
}

fn consumer(bootstrap: &str, classic: bool) -> BaseConsumer {
    let mut cfg = client_config(bootstrap);
    cfg.set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    if classic {
        cfg.set("group.protocol", "classic")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500");
    } else {
        cfg.set("group.protocol", "consumer");
    }
    let c: BaseConsumer = cfg.create().expect("create consumer");
    c.subscribe(&[TOPIC]).expect("subscribe");
    c
}

fn assigned(c: &BaseConsumer) -> BTreeSet<i32> {
    c.assignment()
        .map(|l| l.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// Polls every consumer, committing each record it reads; counts reads per record.
/// Returns how many commits were refused.
fn poll(consumers: &[&BaseConsumer], reads: &mut BTreeMap<(i32, i64), usize>) -> usize {
    let mut refused = 0;
    for c in consumers {
        let Some(Ok(m)) = c.poll(Duration::from_millis(20)) else {
            continue;
        };
        *reads.entry((m.partition(), m.offset())).or_default() += 1;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(m.topic(), m.partition(), Offset::Offset(m.offset() + 1))
            .unwrap();
        if c.commit(&tpl, CommitMode::Sync).is_err() {
            refused += 1;
        }
    }
    refused
}

/// Polls until the members' assignments are disjoint, none empty, and cover the topic.
fn until_split(consumers: &[&BaseConsumer], reads: &mut BTreeMap<(i32, i64), usize>, what: &str) {
    let want: BTreeSet<i32> = (0..PARTITIONS).collect();
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        // Commits racing a rebalance may be refused here; that is allowed.
        let _ = poll(consumers, reads);
        let sets: Vec<BTreeSet<i32>> = consumers.iter().map(|c| assigned(c)).collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        if total == want.len() && union == want && sets.iter().all(|s| !s.is_empty()) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: assignments {sets:?}");
    }
}

#[test]
fn classic_and_consumer_protocol_members_share_a_live_group_and_roll_between_protocols() {
    let broker = broker();
    broker.create_topic(TOPIC, PARTITIONS, &[]);
    let mut reads = BTreeMap::new();

    let modern = consumer(&broker.bootstrap, false);
    let classic = consumer(&broker.bootstrap, true);
    until_split(
        &[&modern, &classic],
        &mut reads,
        "classic joins the consumer group",
    );

    produce_n(&broker.bootstrap, TOPIC, 300, PARTITIONS);
    read_all(&[&modern, &classic], &mut reads, 300);
    let twice: Vec<_> = reads.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "records read more than once: {twice:?}");

    // Upgrade: the classic member is replaced by a consumer-protocol one.
    drop(classic);
    let upgraded = consumer(&broker.bootstrap, false);
    until_split(&[&modern, &upgraded], &mut reads, "after the upgrade roll");

    // Downgrade: and back to classic.
    drop(upgraded);
    let downgraded = consumer(&broker.bootstrap, true);
    until_split(
        &[&modern, &downgraded],
        &mut reads,
        "after the downgrade roll",
    );
}

/// The group's type as ListGroups v5 reports it (`classic` or `consumer`).
fn group_type(bootstrap: &str) -> String {
    use kafka_protocol::messages::{ApiKey, ListGroupsRequest, ListGroupsResponse};
    let mut conn = RawConn::connect(bootstrap);
    let resp: ListGroupsResponse =
        conn.request(ApiKey::ListGroups, 5, &ListGroupsRequest::default());
    resp.groups
        .iter()
        .find(|g| &*g.group_id.0 == GROUP)
        .map(|g| g.group_type.to_string())
        .unwrap_or_default()
}

/// KIP-1099's member types in ConsumerGroupDescribe v1, sorted (0 classic, 1 consumer).
fn member_types(bootstrap: &str) -> Vec<i8> {
    use kafka_protocol::messages::{
        ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, GroupId,
    };
    use kafka_protocol::protocol::StrBytes;
    let mut conn = RawConn::connect(bootstrap);
    let resp: ConsumerGroupDescribeResponse = conn.request(
        ApiKey::ConsumerGroupDescribe,
        1,
        &ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![GroupId(StrBytes::from_static_str(GROUP))]),
    );
    let mut types: Vec<i8> = resp
        .groups
        .iter()
        .flat_map(|g| g.members.iter().map(|m| m.member_type))
        .collect();
    types.sort();
    types
}

/// Polls until every record up to `total` was read at least once.
fn read_all(consumers: &[&BaseConsumer], reads: &mut BTreeMap<(i32, i64), usize>, total: usize) {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while reads.len() < total {
        poll(consumers, reads);
        assert!(
            Instant::now() < deadline,
            "read {} of {total} records",
            reads.len()
        );
    }
}

#[test]
fn a_live_classic_group_is_upgraded_when_a_consumer_member_joins_and_downgraded_when_it_leaves() {
    let broker = broker();
    broker.create_topic(TOPIC, PARTITIONS, &[]);
    let mut reads = BTreeMap::new();

    let a = consumer(&broker.bootstrap, true);
    let b = consumer(&broker.bootstrap, true);
    until_split(&[&a, &b], &mut reads, "two classic members");
    assert_eq!(group_type(&broker.bootstrap), "classic");
    produce_n(&broker.bootstrap, TOPIC, 300, PARTITIONS);
    read_all(&[&a, &b], &mut reads, 300);

    // A consumer-protocol member joins the live classic group: it is upgraded online
    // and the three share the partitions.
    let modern = consumer(&broker.bootstrap, false);
    until_split(&[&a, &b, &modern], &mut reads, "after the upgrade");
    assert_eq!(group_type(&broker.bootstrap), "consumer");
    assert_eq!(member_types(&broker.bootstrap), vec![0, 0, 1]);
    produce_n(&broker.bootstrap, TOPIC, 300, PARTITIONS);
    read_all(&[&a, &b, &modern], &mut reads, 600);

    // The consumer-protocol member leaves: only classic members are left, so the group
    // is downgraded online and the two take everything back.
    drop(modern);
    until_split(&[&a, &b], &mut reads, "after the downgrade");
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while group_type(&broker.bootstrap) != "classic" {
        poll(&[&a, &b], &mut reads);
        assert!(
            Instant::now() < deadline,
            "the group stayed a consumer group"
        );
    }
    produce_n(&broker.bootstrap, TOPIC, 300, PARTITIONS);
    read_all(&[&a, &b], &mut reads, 900);
}
