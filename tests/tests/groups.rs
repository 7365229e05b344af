//! Consumer groups end to end with rdkafka: partitions are shared, rebalanced when a
//! member joins, and committed offsets survive a broker restart. Each scenario runs
//! under both group protocols: the classic one (JoinGroup/SyncGroup, client-side
//! assignment) and KIP-848's (`group.protocol=consumer`, ConsumerGroupHeartbeat).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fjord_tests::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::Message;
use rdkafka::TopicPartitionList;

const PARTITIONS: i32 = 6;

/// `group.protocol`: `classic` or `consumer`.
#[derive(Clone, Copy)]
enum Protocol {
    Classic,
    Consumer,
}

/// A broker whose groups of either protocol rebalance quickly. Under the consumer
/// protocol the session and heartbeat interval are the broker's to set.
fn start_broker() -> Broker {
    Broker::start_with(&[
        ("group.initial.rebalance.delay.ms", "0"),
        // Below Kafka's bounds (45 s / 5 s), so the bounds move too, as Kafka requires.
        ("group.consumer.min.session.timeout.ms", "6000"),
        ("group.consumer.session.timeout.ms", "6000"),
        ("group.consumer.min.heartbeat.interval.ms", "500"),
        ("group.consumer.heartbeat.interval.ms", "500"),
    ])
}

fn group_consumer(bootstrap: &str, group: &str, protocol: Protocol) -> BaseConsumer {
    let mut cfg = client_config(bootstrap);
    cfg.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    match protocol {
        Protocol::Classic => cfg
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500"),
        Protocol::Consumer => cfg.set("group.protocol", "consumer"),
    };
    cfg.create().expect("create consumer")
}

fn assigned(c: &BaseConsumer) -> BTreeSet<i32> {
    c.assignment()
        .map(|l| l.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// Polls every consumer until their assignments partition 0..PARTITIONS exactly, each
/// holding `each` partitions when given. (Under KIP-848 reconciliation is incremental: a
/// new member may hold part of its share while the rest is still being revoked.)
fn poll_until_split(
    consumers: &[&BaseConsumer],
    timeout: Duration,
    each: Option<usize>,
) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + timeout;
    loop {
        for c in consumers {
            let _ = c.poll(Duration::from_millis(20));
        }
        let sets: Vec<BTreeSet<i32>> = consumers.iter().map(|c| assigned(c)).collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        if total == PARTITIONS as usize
            && union.len() == PARTITIONS as usize
            && sets.iter().all(|s| !s.is_empty())
            && each.is_none_or(|n| sets.iter().all(|s| s.len() == n))
        {
            return sets;
        }
        assert!(
            Instant::now() < deadline,
            "assignments never split the partitions: {sets:?}"
        );
    }
}

#[test]
fn members_share_partitions_and_a_third_member_gets_exclusive_ones() {
    members_share_partitions(Protocol::Classic);
}

#[test]
fn members_share_partitions_and_a_third_member_gets_exclusive_ones_under_kip848() {
    members_share_partitions(Protocol::Consumer);
}

fn members_share_partitions(protocol: Protocol) {
    let broker = start_broker();
    broker.create_topic("shared", PARTITIONS, &[]);
    produce_n(&broker.bootstrap, "shared", 60, PARTITIONS);

    let a = group_consumer(&broker.bootstrap, "g-share", protocol);
    let started = Instant::now();
    a.subscribe(&["shared"]).unwrap();
    let first = loop {
        if let Some(Ok(_)) = a.poll(Duration::from_millis(50)) {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no message");
    };
    eprintln!("MEASURE subscribe -> first message (1 consumer, initial delay 0): {first:?}");

    let b = group_consumer(&broker.bootstrap, "g-share", protocol);
    b.subscribe(&["shared"]).unwrap();
    let two = poll_until_split(&[&a, &b], Duration::from_secs(30), None);
    assert_eq!(two.len(), 2);

    let c = group_consumer(&broker.bootstrap, "g-share", protocol);
    let started = Instant::now();
    c.subscribe(&["shared"]).unwrap();
    let three = poll_until_split(&[&a, &b, &c], Duration::from_secs(30), Some(2));
    eprintln!(
        "MEASURE 3-member rebalance (third subscribes -> disjoint cover): {:?}",
        started.elapsed()
    );
    assert!(three.iter().all(|s| s.len() == 2), "{three:?}");
}

#[test]
fn committed_offsets_survive_a_restart_and_a_new_consumer_resumes_there() {
    offsets_survive_a_restart(Protocol::Classic);
}

#[test]
fn committed_offsets_survive_a_restart_and_a_new_consumer_resumes_there_under_kip848() {
    offsets_survive_a_restart(Protocol::Consumer);
}

fn offsets_survive_a_restart(protocol: Protocol) {
    let mut broker = start_broker();
    broker.create_topic("resume", PARTITIONS, &[]);
    produce_n(&broker.bootstrap, "resume", 120, PARTITIONS);

    let c = group_consumer(&broker.bootstrap, "g-resume", protocol);
    c.subscribe(&["resume"]).unwrap();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen < 60 {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(
                m.topic(),
                m.partition(),
                rdkafka::Offset::Offset(m.offset() + 1),
            )
            .unwrap();
            c.commit(&tpl, CommitMode::Sync).expect("commit");
            seen += 1;
        }
        assert!(Instant::now() < deadline, "only {seen} messages");
    }
    let committed: Vec<(i32, i64)> = c
        .committed(Duration::from_secs(10))
        .unwrap()
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect();
    drop(c);
    broker.restart();

    let d = group_consumer(&broker.bootstrap, "g-resume", protocol);
    d.subscribe(&["resume"]).unwrap();
    let mut got = 0;
    let mut first_offsets = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got < 120 - 60 {
        if let Some(Ok(m)) = d.poll(Duration::from_millis(50)) {
            first_offsets.entry(m.partition()).or_insert(m.offset());
            got += 1;
        }
        assert!(Instant::now() < deadline, "resumed only {got} messages");
    }
    for (p, o) in committed {
        if let Some(first) = first_offsets.get(&p) {
            assert_eq!(*first, o, "partition {p} resumed at {first}, committed {o}");
        }
    }
    assert_eq!(got, 60, "nothing lost, nothing repeated");
}
