//! KIP-848 (`group.protocol=consumer`) end to end: librdkafka consumers split partitions
//! through the broker's server-side assignor and rebalance incrementally on join, leave
//! and crash without re-reading committed data; a regex subscription picks up a topic
//! created later; a static member that restarts keeps its partitions;
//! ConsumerGroupDescribe, ListGroups and OffsetCommit v9 answer as Kafka's; the group
//! survives a broker restart; classic and consumer groups convert when empty.
//!
//! The broker runs with `group.consumer.session.timeout.ms=6000` and
//! `group.consumer.heartbeat.interval.ms=500` (Kafka's defaults are 45 s and 5 s) so the
//! tests take seconds; clients cannot set these under this protocol.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use fjord_tests::*;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, GroupId, JoinGroupRequest, JoinGroupResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;
const SESSION_MS: u64 = 6000;

fn broker() -> Broker {
    let broker = Broker::start_with(&[
        ("group.initial.rebalance.delay.ms", "0"),
        // Below Kafka's bounds (45 s / 5 s), so the bounds move too, as Kafka requires.
        ("group.consumer.min.session.timeout.ms", "6000"),
        ("group.consumer.session.timeout.ms", "6000"),
        ("group.consumer.min.heartbeat.interval.ms", "500"),
        ("group.consumer.heartbeat.interval.ms", "500"),
    ]);
    wait_for_group_coordinator(&broker.bootstrap);
    broker
}

fn consumer(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut cfg = client_config(bootstrap);
    cfg.set("group.id", group)
        .set("group.protocol", "consumer")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create().expect("create consumer")
}

fn assigned(c: &BaseConsumer) -> BTreeSet<(String, i32)> {
    c.assignment()
        .map(|l| {
            l.elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect()
        })
        .unwrap_or_default()
}

fn all(topic: &str) -> BTreeSet<(String, i32)> {
    (0..PARTITIONS).map(|p| (topic.to_string(), p)).collect()
}

/// Pairwise disjoint, none empty, together exactly `want`.
fn disjoint_cover(sets: &[BTreeSet<(String, i32)>], want: &BTreeSet<(String, i32)>) -> bool {
    let total: usize = sets.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<_> = sets.iter().flatten().cloned().collect();
    total == want.len() && &union == want && sets.iter().all(|s| !s.is_empty())
}

/// Consumers that commit every message synchronously and check, on every message, that
/// nobody consumes a message whose offset was already committed.
struct Members {
    committed: BTreeSet<(i32, i64)>,
    consumed: BTreeMap<(i32, i64), usize>,
}

impl Members {
    fn new() -> Members {
        Members {
            committed: BTreeSet::new(),
            consumed: BTreeMap::new(),
        }
    }

    /// Polls each consumer once (20 ms), committing what it reads.
    fn poll(&mut self, consumers: &[&BaseConsumer]) {
        for c in consumers {
            let Some(Ok(m)) = c.poll(Duration::from_millis(20)) else {
                continue;
            };
            let key = (m.partition(), m.offset());
            assert!(
                !self.committed.contains(&key),
                "message {key:?} consumed again after it was committed"
            );
            *self.consumed.entry(key).or_default() += 1;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(m.topic(), m.partition(), Offset::Offset(m.offset() + 1))
                .unwrap();
            // A commit racing an epoch bump may be refused (STALE_MEMBER_EPOCH); that
            // message may then be read again, which is allowed: it was not committed.
            if c.commit(&tpl, CommitMode::Sync).is_ok() {
                self.committed.insert(key);
            }
        }
    }

    fn poll_until(
        &mut self,
        consumers: &[&BaseConsumer],
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&[BTreeSet<(String, i32)>]) -> bool,
    ) -> Vec<BTreeSet<(String, i32)>> {
        let deadline = Instant::now() + timeout;
        loop {
            self.poll(consumers);
            let sets: Vec<_> = consumers.iter().map(|c| assigned(c)).collect();
            if done(&sets) {
                return sets;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?}: {what}; assignments {sets:?}"
            );
        }
    }
}

#[test]
fn consumers_split_partitions_and_rebalance_on_join_and_leave_without_rereading_committed_data() {
    let broker = broker();
    broker.create_topic("kip848", PARTITIONS, &[]);
    produce_n(&broker.bootstrap, "kip848", 300, PARTITIONS);
    let want = all("kip848");
    let mut members = Members::new();

    let a = consumer(&broker.bootstrap, "g-848", &[]);
    a.subscribe(&["kip848"]).unwrap();
    members.poll_until(&[&a], CLIENT_TIMEOUT, "a owns everything", |s| s[0] == want);

    let b = consumer(&broker.bootstrap, "g-848", &[]);
    b.subscribe(&["kip848"]).unwrap();
    let two = members.poll_until(&[&a, &b], CLIENT_TIMEOUT, "a and b split", |s| {
        disjoint_cover(s, &want) && s.iter().all(|p| p.len() == 3)
    });
    assert!(two.iter().all(|s| s.len() == 3), "uniform: 3 each, {two:?}");

    let c = consumer(&broker.bootstrap, "g-848", &[]);
    c.subscribe(&["kip848"]).unwrap();
    let three = members.poll_until(&[&a, &b, &c], CLIENT_TIMEOUT, "three split", |s| {
        disjoint_cover(s, &want) && s.iter().all(|p| p.len() == 2)
    });
    // Incremental: a and b only gave partitions up, they did not swap them.
    assert!(
        three[0].is_subset(&two[0]) && three[1].is_subset(&two[1]),
        "{two:?} -> {three:?}"
    );

    produce_n(&broker.bootstrap, "kip848", 300, PARTITIONS);
    drop(c); // leaves the group (epoch -1)
    members.poll_until(
        &[&a, &b],
        CLIENT_TIMEOUT,
        "a and b take c's partitions",
        |s| disjoint_cover(s, &want),
    );
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while members.consumed.len() < 600 {
        members.poll(&[&a, &b]);
        assert!(
            Instant::now() < deadline,
            "consumed {} of 600 messages",
            members.consumed.len()
        );
    }
}

/// A member speaking the protocol in raw requests: it joins, is assigned, and then
/// simply stops heartbeating, as a crashed process would. `meanwhile` runs between its
/// heartbeats (the other members must poll to give partitions up).
fn raw_member_joins(
    bootstrap: &str,
    group: &str,
    topic: &str,
    meanwhile: &mut dyn FnMut(),
) -> (RawConn, String, i32) {
    let mut conn = RawConn::connect(bootstrap);
    let member = uuid::Uuid::new_v4().to_string();
    let mut epoch = 0;
    let mut owned: Vec<TopicPartitions> = Vec::new();
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        let mut req = heartbeat(group, &member, epoch);
        if epoch == 0 {
            req = req
                .with_rebalance_timeout_ms(5000)
                .with_subscribed_topic_names(Some(vec![TopicName(s(topic))]));
        }
        let resp: ConsumerGroupHeartbeatResponse = conn.request(
            ApiKey::ConsumerGroupHeartbeat,
            1,
            &req.with_topic_partitions(Some(owned.clone())),
        );
        assert_eq!(resp.error_code, 0, "{resp:?}");
        epoch = resp.member_epoch;
        if let Some(a) = resp.assignment {
            owned = a
                .topic_partitions
                .iter()
                .map(|t| {
                    TopicPartitions::default()
                        .with_topic_id(t.topic_id)
                        .with_partitions(t.partitions.clone())
                })
                .collect();
        }
        if owned.iter().any(|t| !t.partitions.is_empty()) {
            return (conn, member, epoch);
        }
        assert!(
            Instant::now() < deadline,
            "the raw member got no partitions"
        );
        let pause = Instant::now() + Duration::from_millis(100);
        while Instant::now() < pause {
            meanwhile();
        }
    }
}

#[test]
fn a_crashed_member_loses_its_partitions_after_the_session_timeout() {
    let broker = broker();
    broker.create_topic("crash848", PARTITIONS, &[]);
    let want = all("crash848");
    let mut members = Members::new();
    let survivor = consumer(&broker.bootstrap, "g-crash848", &[]);
    survivor.subscribe(&["crash848"]).unwrap();
    members.poll_until(&[&survivor], CLIENT_TIMEOUT, "survivor owns all", |s| {
        s[0] == want
    });

    let (_conn, _member, _epoch) =
        raw_member_joins(&broker.bootstrap, "g-crash848", "crash848", &mut || {
            members.poll(&[&survivor])
        });
    members.poll_until(
        &[&survivor],
        CLIENT_TIMEOUT,
        "survivor gave partitions up",
        |s| !s[0].is_empty() && s[0].len() < PARTITIONS as usize,
    );
    let crashed = Instant::now(); // the raw member never heartbeats again
    members.poll_until(
        &[&survivor],
        Duration::from_secs(60),
        "survivor owns all again",
        |s| s[0] == want,
    );
    let moved = crashed.elapsed();
    assert!(
        moved >= Duration::from_millis(SESSION_MS - 1500),
        "partitions moved {moved:?} after the crash, before the session could expire"
    );
    produce_n(&broker.bootstrap, "crash848", 60, PARTITIONS);
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while members.consumed.len() < 60 {
        members.poll(&[&survivor]);
        assert!(
            Instant::now() < deadline,
            "read {} of 60",
            members.consumed.len()
        );
    }
    let partitions: BTreeSet<i32> = members.consumed.keys().map(|(p, _)| *p).collect();
    assert_eq!(
        partitions.len(),
        PARTITIONS as usize,
        "read every partition"
    );
}

#[test]
fn a_regex_subscription_picks_up_a_topic_created_later() {
    let broker = broker();
    broker.create_topic("rx-first", 2, &[]);
    broker.create_topic("other", 2, &[]);
    let c = consumer(&broker.bootstrap, "g-regex", &[]);
    c.subscribe(&["^rx-.*"]).unwrap();
    let mut members = Members::new();
    members.poll_until(&[&c], CLIENT_TIMEOUT, "rx-first assigned", |s| {
        s[0] == [("rx-first".to_string(), 0), ("rx-first".to_string(), 1)].into()
    });
    broker.create_topic("rx-later", 3, &[]);
    let sets = members.poll_until(&[&c], Duration::from_secs(60), "rx-later assigned", |s| {
        s[0].iter().filter(|(t, _)| t == "rx-later").count() == 3
    });
    assert!(
        sets[0].iter().all(|(t, _)| t.starts_with("rx-")),
        "{sets:?}"
    );
    produce_n(&broker.bootstrap, "rx-later", 9, 3);
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while members.consumed.len() < 9 {
        members.poll(&[&c]);
        assert!(
            Instant::now() < deadline,
            "read {} of 9 from rx-later",
            members.consumed.len()
        );
    }
}

#[test]
fn a_static_member_that_restarts_keeps_its_assignment() {
    let broker = broker();
    broker.create_topic("static848", PARTITIONS, &[]);
    let want = all("static848");
    let mut members = Members::new();
    let a = consumer(&broker.bootstrap, "g-static848", &[]);
    a.subscribe(&["static848"]).unwrap();
    let s = consumer(
        &broker.bootstrap,
        "g-static848",
        &[("group.instance.id", "inst-1")],
    );
    s.subscribe(&["static848"]).unwrap();
    let split = members.poll_until(&[&a, &s], CLIENT_TIMEOUT, "a and s split", |x| {
        disjoint_cover(x, &want)
    });
    let before = describe(&broker.bootstrap, "g-static848");
    drop(s); // a static member leaves with epoch -2: its partitions wait for it
    let s2 = consumer(
        &broker.bootstrap,
        "g-static848",
        &[("group.instance.id", "inst-1")],
    );
    s2.subscribe(&["static848"]).unwrap();
    let again = members.poll_until(&[&a, &s2], CLIENT_TIMEOUT, "s2 assigned", |x| {
        !x[1].is_empty()
    });
    assert_eq!(
        again[1], split[1],
        "the restarted instance got its partitions back"
    );
    assert_eq!(again[0], split[0], "the other member kept its partitions");
    let after = describe(&broker.bootstrap, "g-static848");
    assert_eq!(
        after.group_epoch, before.group_epoch,
        "no rebalance: {after:?}"
    );
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn heartbeat(group: &str, member: &str, epoch: i32) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1)
}

fn describe(
    bootstrap: &str,
    group: &str,
) -> kafka_protocol::messages::consumer_group_describe_response::DescribedGroup {
    let mut conn = RawConn::connect(bootstrap);
    let resp: ConsumerGroupDescribeResponse = conn.request(
        ApiKey::ConsumerGroupDescribe,
        1,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(group))]),
    );
    resp.groups.into_iter().next().expect("one group described")
}

#[test]
fn consumer_group_describe_and_list_groups_show_members_and_assignments() {
    let broker = broker();
    broker.create_topic("desc848", PARTITIONS, &[]);
    let want = all("desc848");
    let mut members = Members::new();
    let a = consumer(&broker.bootstrap, "g-desc848", &[]);
    let b = consumer(
        &broker.bootstrap,
        "g-desc848",
        &[("group.remote.assignor", "range")],
    );
    a.subscribe(&["desc848"]).unwrap();
    b.subscribe(&["desc848"]).unwrap();
    members.poll_until(&[&a, &b], CLIENT_TIMEOUT, "split", |x| {
        disjoint_cover(x, &want)
    });
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let g = loop {
        let g = describe(&broker.bootstrap, "g-desc848");
        if g.group_state.as_str() == "Stable" {
            break g;
        }
        members.poll(&[&a, &b]);
        assert!(Instant::now() < deadline, "never Stable: {g:?}");
    };
    assert_eq!(g.error_code, 0);
    assert_eq!(g.members.len(), 2);
    assert_eq!(g.assignment_epoch, g.group_epoch);
    // One member asks for range, the other for nothing: range has the only vote.
    assert_eq!(g.assignor_name.as_str(), "range");
    let mut described = BTreeSet::new();
    for m in &g.members {
        assert_eq!(m.member_epoch, g.group_epoch);
        assert_eq!(m.member_type, 1);
        assert_eq!(m.subscribed_topic_names, vec![TopicName(s("desc848"))]);
        assert_eq!(m.assignment, m.target_assignment);
        for t in &m.assignment.topic_partitions {
            assert_eq!(t.topic_name.0.as_str(), "desc848");
            for p in &t.partitions {
                assert!(described.insert(*p), "partition {p} described twice");
            }
        }
    }
    assert_eq!(described.len(), PARTITIONS as usize);

    let mut conn = RawConn::connect(&broker.bootstrap);
    let listed: ListGroupsResponse = conn.request(
        ApiKey::ListGroups,
        5,
        &ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
    );
    let row = listed
        .groups
        .iter()
        .find(|l| l.group_id.0.as_str() == "g-desc848")
        .expect("listed as a consumer group");
    assert_eq!(row.group_type.as_str(), "consumer");
    assert_eq!(row.protocol_type.as_str(), "consumer");
    assert_eq!(row.group_state.as_str(), "Stable");
    let classic_only: ListGroupsResponse = conn.request(
        ApiKey::ListGroups,
        5,
        &ListGroupsRequest::default().with_types_filter(vec![s("classic")]),
    );
    assert!(classic_only
        .groups
        .iter()
        .all(|l| l.group_id.0.as_str() != "g-desc848"));
    // DescribeGroups (classic) does not describe a consumer group, as Kafka before v6.
    let classic: DescribeGroupsResponse = conn.request(
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g-desc848"))]),
    );
    assert_eq!(classic.groups[0].group_state.as_str(), "Dead");
}

#[test]
fn heartbeat_errors_are_kafkas() {
    let broker = broker();
    broker.create_topic("err848", 2, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let mut send =
        |req: ConsumerGroupHeartbeatRequest, version: i16| -> ConsumerGroupHeartbeatResponse {
            conn.request(ApiKey::ConsumerGroupHeartbeat, version, &req)
        };
    let join = |member: &str| {
        heartbeat("g-err", member, 0)
            .with_rebalance_timeout_ms(5000)
            .with_subscribed_topic_names(Some(vec![TopicName(s("err848"))]))
            .with_topic_partitions(Some(Vec::new()))
    };
    // v1 requires a client-generated member id.
    let r = send(join(""), 1);
    assert_eq!(r.error_code, E::InvalidRequest.code(), "{r:?}");
    // A first heartbeat without a rebalance timeout.
    let r = send(join("m1").with_rebalance_timeout_ms(-1), 1);
    assert_eq!(r.error_code, E::InvalidRequest.code());
    let r = send(join("m1").with_server_assignor(Some(s("sticky"))), 1);
    assert_eq!(r.error_code, E::UnsupportedAssignor.code());
    let r = send(
        join("m1")
            .with_subscribed_topic_names(None)
            .with_subscribed_topic_regex(Some(s("err("))),
        1,
    );
    assert_eq!(r.error_code, E::InvalidRegularExpression.code());
    // v0 lets the broker generate the member id.
    let r = send(join(""), 0);
    assert_eq!(r.error_code, 0, "{r:?}");
    let generated = r.member_id.clone().expect("a member id").to_string();
    assert!(!generated.is_empty());
    assert!(r.member_epoch > 0);
    assert_eq!(r.heartbeat_interval_ms, 500);
    let epoch = r.member_epoch;
    // A higher epoch than the broker's, or an unknown member.
    let r = send(heartbeat("g-err", &generated, epoch + 5), 1);
    assert_eq!(r.error_code, E::FencedMemberEpoch.code());
    let r = send(heartbeat("g-err", "nobody", 3), 1);
    assert_eq!(r.error_code, E::UnknownMemberId.code());
    let r = send(heartbeat("g-unknown", "nobody", 3), 1);
    assert_eq!(r.error_code, E::GroupIdNotFound.code());

    // OffsetCommit v9 with the member epoch: the current one commits, an old one is stale.
    let commit = |conn: &mut RawConn, epoch: i32, version: i16| -> i16 {
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g-err")))
            .with_generation_id_or_member_epoch(epoch)
            .with_member_id(s(&generated))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("err848")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)])]);
        let resp: OffsetCommitResponse = conn.request(ApiKey::OffsetCommit, version, &req);
        resp.topics[0].partitions[0].error_code
    };
    let mut conn = RawConn::connect(&broker.bootstrap);
    assert_eq!(commit(&mut conn, epoch, 9), 0);
    assert_eq!(commit(&mut conn, epoch - 1, 9), E::StaleMemberEpoch.code());
    assert_eq!(commit(&mut conn, epoch, 8), E::UnsupportedVersion.code());

    // A JoinGroup that is not a consumer's cannot join a consumer group that has
    // members (a classic consumer can: tests/tests/groups_mixed.rs).
    let classic = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g-err")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(""))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(bytes::Bytes::from_static(b"x"))]);
    let connect = classic.clone().with_protocol_type(s("connect"));
    let j: JoinGroupResponse = conn.request(ApiKey::JoinGroup, 5, &connect);
    assert_eq!(j.error_code, E::InconsistentGroupProtocol.code());

    // Once its last member leaves, the group converts to classic on a JoinGroup.
    let r: ConsumerGroupHeartbeatResponse = conn.request(
        ApiKey::ConsumerGroupHeartbeat,
        1,
        &heartbeat("g-err", &generated, -1),
    );
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
    let j: JoinGroupResponse = conn.request(ApiKey::JoinGroup, 3, &classic);
    assert_eq!(j.error_code, 0, "{j:?}");
}

#[test]
fn a_consumer_group_survives_a_broker_restart() {
    let mut broker = broker();
    broker.create_topic("restart848", PARTITIONS, &[]);
    let (mut conn, member, epoch) =
        raw_member_joins(&broker.bootstrap, "g-restart848", "restart848", &mut || {
            std::thread::sleep(Duration::from_millis(20))
        });
    let before = describe(&broker.bootstrap, "g-restart848");
    drop(conn);
    broker.restart();
    wait_for_group_coordinator(&broker.bootstrap);
    let after = describe(&broker.bootstrap, "g-restart848");
    assert_eq!(after.error_code, 0, "{after:?}");
    assert_eq!(after.group_epoch, before.group_epoch);
    assert_eq!(after.members.len(), 1);
    assert_eq!(after.members[0].member_id.as_str(), member);
    assert_eq!(after.members[0].assignment, before.members[0].assignment);
    // The member carries on with its epoch, within its (restarted) session.
    conn = RawConn::connect(&broker.bootstrap);
    let r: ConsumerGroupHeartbeatResponse = conn.request(
        ApiKey::ConsumerGroupHeartbeat,
        1,
        &heartbeat("g-restart848", &member, epoch),
    );
    assert_eq!((r.error_code, r.member_epoch), (0, epoch), "{r:?}");
}

#[test]
fn only_an_empty_consumer_group_can_be_deleted() {
    use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};
    let broker = broker();
    broker.create_topic("del848", 2, &[]);
    let (mut conn, member, _epoch) =
        raw_member_joins(&broker.bootstrap, "g-del848", "del848", &mut || {
            std::thread::sleep(Duration::from_millis(20))
        });
    let delete = |conn: &mut RawConn| -> i16 {
        let r: DeleteGroupsResponse = conn.request(
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g-del848"))]),
        );
        r.results[0].error_code
    };
    assert_eq!(delete(&mut conn), E::NonEmptyGroup.code());
    let r: ConsumerGroupHeartbeatResponse = conn.request(
        ApiKey::ConsumerGroupHeartbeat,
        1,
        &heartbeat("g-del848", &member, -1),
    );
    assert_eq!(r.error_code, 0);
    assert_eq!(delete(&mut conn), 0);
    let gone = describe(&broker.bootstrap, "g-del848");
    assert_eq!(gone.error_code, E::GroupIdNotFound.code(), "{gone:?}");
}
