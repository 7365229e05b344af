//! Consumer groups and `group.max.size` inside the coordinator, driven with an injected
//! clock: conversions between classic and consumer groups, persistence records,
//! session expiry through the shared timer heap.

use super::tests::{join, join_req, machine, sync};
use super::*;
use fjord_group::{assignment, HeartbeatRequest, Topics};
use kafka_protocol::error::ResponseError as E;

fn topics() -> Topics {
    Topics::new([("t".to_string(), uuid::Uuid::from_u128(7), 4)])
}

fn hb_join(member: &str) -> HeartbeatRequest {
    HeartbeatRequest {
        version: 1,
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 10_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        owned: Some(Default::default()),
        ..HeartbeatRequest::default()
    }
}

#[test]
fn a_consumer_group_member_is_assigned_and_its_group_is_recorded() {
    let mut c = machine(0);
    let r = c
        .consumer_heartbeat(0, hb_join("m1"), &topics())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.assignment.as_ref().map(assignment::count), Some(4));
    let records = c.take_effects().records;
    let Some(StoreRecord::Consumer { value: Some(v), .. }) = records.last() else {
        panic!("no consumer group record: {records:?}");
    };
    // Replaying the record restores the group.
    let mut fresh = machine(0);
    fresh.replay(
        StoreRecord::Consumer {
            group: "g".into(),
            value: Some(v.clone()),
        },
        5,
    );
    fresh.finish_load();
    let g = fresh.consumer_group("g").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.members["m1"].assigned.len(), 1);
    assert_eq!(fresh.list(&[])[0].group_type, "consumer");
}

#[test]
fn an_expired_session_frees_the_partitions_through_the_timer_heap() {
    let mut c = machine(0);
    c.consumer_heartbeat(0, hb_join("m1"), &topics())
        .unwrap_or_else(|e| panic!("{e}"));
    let session = i64::from(c.config.consumer.session_timeout_ms);
    assert_eq!(c.next_deadline(), Some(session));
    c.tick(session);
    let g = c.consumer_group("g").unwrap_or_else(|e| panic!("{e}"));
    assert!(g.is_empty(), "the member expired");
    assert_eq!(g.epoch, 2, "its removal bumped the group epoch");
}

/// A ConsumerProtocolSubscription v1 for topic "t" owning `owned` of it.
fn subscription(owned: &[i32]) -> bytes::Bytes {
    use kafka_protocol::messages::consumer_protocol_subscription::{
        ConsumerProtocolSubscription, TopicPartition,
    };
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let name = || kafka_protocol::messages::TopicName(StrBytes::from_static_str("t"));
    let owned_partitions = if owned.is_empty() {
        vec![]
    } else {
        vec![TopicPartition::default()
            .with_topic(name())
            .with_partitions(owned.to_vec())]
    };
    let msg = ConsumerProtocolSubscription::default()
        .with_topics(vec![StrBytes::from_static_str("t")])
        .with_owned_partitions(owned_partitions);
    let mut buf = bytes::BytesMut::new();
    bytes::BufMut::put_i16(&mut buf, 1);
    msg.encode(&mut buf, 1).unwrap();
    buf.freeze()
}

fn classic_join(member: &str, owned: &[i32]) -> JoinRequest {
    let mut req = join_req(member, None, &["range"]);
    req.protocols = vec![("range".into(), subscription(owned))];
    req
}

/// The partitions of topic "t" in a ConsumerProtocolAssignment.
fn assigned_partitions(bytes: &bytes::Bytes) -> Vec<i32> {
    use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
    use kafka_protocol::protocol::Decodable;
    let mut buf = bytes.clone();
    let version = bytes::Buf::get_i16(&mut buf);
    let a = ConsumerProtocolAssignment::decode(&mut buf, version).unwrap();
    a.assigned_partitions
        .iter()
        .filter(|tp| &*tp.topic.0 == "t")
        .flat_map(|tp| tp.partitions.clone())
        .collect()
}

#[test]
fn a_classic_member_joins_a_live_consumer_group_and_gets_its_partitions_in_sync_group() {
    let mut c = machine(0);
    c.topics = std::sync::Arc::new(topics());
    let r = c
        .consumer_heartbeat(0, hb_join("m1"), &topics())
        .unwrap_or_else(|e| panic!("{e}"));
    // The classic member goes through MEMBER_ID_REQUIRED, then joins at once.
    let first = join(&mut c, 1, classic_join("", &[])).try_recv().unwrap();
    assert_eq!(first.error, Some(E::MemberIdRequired));
    let id = first.member_id.clone();
    let joined = join(&mut c, 1, classic_join(&id, &[])).try_recv().unwrap();
    assert_eq!(joined.error, None);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert!(
        joined.leader.is_empty(),
        "the coordinator assigns, not a leader"
    );
    // The consumer member gives up half, confirms, and the classic member is told to
    // rejoin for them.
    let r = c
        .consumer_heartbeat(
            2,
            HeartbeatRequest {
                member_epoch: r.member_epoch,
                rebalance_timeout_ms: -1,
                subscribed_topic_names: None,
                owned: None,
                ..hb_join("m1")
            },
            &topics(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let kept = r.assignment.clone().unwrap();
    c.consumer_heartbeat(
        3,
        HeartbeatRequest {
            member_epoch: r.member_epoch,
            rebalance_timeout_ms: -1,
            subscribed_topic_names: None,
            owned: Some(kept.clone()),
            ..hb_join("m1")
        },
        &topics(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.heartbeat(4, "g", &id, None, joined.generation),
        Some(E::RebalanceInProgress)
    );
    let again = join(&mut c, 5, classic_join(&id, &[])).try_recv().unwrap();
    let synced = sync(&mut c, 5, &id, again.generation, &[])
        .try_recv()
        .unwrap();
    assert_eq!(synced.error, None);
    let mine = assigned_partitions(&synced.assignment);
    assert_eq!(mine.len(), 2);
    let theirs: Vec<i32> = assignment::partitions(&kept).map(|(_, p)| p).collect();
    assert!(
        mine.iter().all(|p| !theirs.contains(p)),
        "{mine:?} vs {theirs:?}"
    );
    assert_eq!(c.heartbeat(6, "g", &id, None, again.generation), None);
    assert_eq!(
        c.heartbeat(6, "g", &id, None, again.generation + 1),
        Some(E::IllegalGeneration)
    );
    // Its LeaveGroup frees its partitions; the group stays a consumer group.
    let out = c
        .leave(
            7,
            "g",
            vec![Leaving {
                member_id: id.clone(),
                instance_id: None,
                error: None,
            }],
        )
        .unwrap();
    assert_eq!(out[0].error, None);
    let g = c.consumer_group("g").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.members.len(), 1);
}

#[test]
fn a_non_consumer_protocol_cannot_join_a_live_consumer_group_but_an_empty_one_converts() {
    let mut c = machine(0);
    c.consumer_heartbeat(0, hb_join("m1"), &topics())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut other = join_req("", None, &["range"]);
    other.protocol_type = "connect".into();
    let resp = join(&mut c, 1, other).try_recv();
    assert_eq!(
        resp.map(|r| r.error).ok().flatten(),
        Some(E::InconsistentGroupProtocol)
    );
    let leave = HeartbeatRequest {
        member_epoch: -1,
        ..hb_join("m1")
    };
    c.consumer_heartbeat(2, leave, &topics())
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = join(&mut c, 3, join_req("", None, &["range"])).try_recv();
    assert_eq!(
        resp.map(|r| r.error).ok().flatten(),
        Some(E::MemberIdRequired),
        "the empty consumer group became classic"
    );
    assert!(c.consumer_group("g").is_err());
    // And an empty classic group becomes a consumer group again, its offsets kept.
    c.groups
        .entry("h".into())
        .or_insert_with(|| ClassicGroup::new("h", 0));
    let to_h = HeartbeatRequest {
        group_id: "h".into(),
        ..hb_join("m2")
    };
    assert!(c.consumer_heartbeat(4, to_h, &topics()).is_ok());
    assert!(c.consumer_group("h").is_ok());
}

#[test]
fn a_classic_group_refuses_members_beyond_group_max_size() {
    let mut c = machine(0);
    c.config.max_size = 1;
    let first = join(&mut c, 0, join_req("", None, &["range"]))
        .try_recv()
        .map(|r| r.error)
        .ok()
        .flatten();
    assert_eq!(
        first,
        Some(E::MemberIdRequired),
        "the first member gets its id"
    );
    let second = join(&mut c, 0, join_req("", None, &["range"]))
        .try_recv()
        .map(|r| r.error)
        .ok()
        .flatten();
    assert_eq!(second, Some(E::GroupMaxSizeReached));
}

/// A ConsumerProtocolAssignment v0 of partitions of topic "t".
fn assignment_of(partitions: &[i32]) -> bytes::Bytes {
    use kafka_protocol::messages::consumer_protocol_assignment::{
        ConsumerProtocolAssignment, TopicPartition,
    };
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let msg = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
        TopicPartition::default()
            .with_topic(kafka_protocol::messages::TopicName(
                StrBytes::from_static_str("t"),
            ))
            .with_partitions(partitions.to_vec()),
    ]);
    let mut buf = bytes::BytesMut::new();
    bytes::BufMut::put_i16(&mut buf, 0);
    msg.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

/// A classic group "g" with one member holding every partition of "t": its id and
/// generation.
fn stable_classic_group(c: &mut Coordinator) -> (String, i32) {
    let id = join(c, 0, classic_join("", &[]))
        .try_recv()
        .unwrap()
        .member_id;
    let joined = join(c, 0, classic_join(&id, &[])).try_recv().unwrap();
    assert_eq!(joined.leader, id);
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let req = SyncRequest {
        group_id: "g".into(),
        generation: joined.generation,
        member_id: id.clone(),
        assignments: vec![(id.clone(), assignment_of(&[0, 1, 2, 3]))],
        ..Default::default()
    };
    c.sync(0, req, tx);
    c.take_effects().deliver();
    assert_eq!(rx.try_recv().unwrap().error, None);
    (id, joined.generation)
}

#[test]
fn a_live_classic_group_is_upgraded_by_a_consumer_member_and_downgraded_when_it_leaves() {
    let mut c = machine(0);
    c.topics = std::sync::Arc::new(topics());
    let (classic, generation) = stable_classic_group(&mut c);
    c.take_effects();

    // A consumer-protocol member joins the live classic group: the group converts,
    // the classic member keeps its partitions until it is asked to give two up.
    let r = c
        .consumer_heartbeat(1, hb_join("m1"), &topics())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.member_epoch, generation + 1);
    let records = c.take_effects().records;
    assert!(
        matches!(
            records.first(),
            Some(StoreRecord::Group { value: None, .. })
        ),
        "the classic group's record is tombstoned first: {records:?}"
    );
    assert!(records
        .iter()
        .any(|r| matches!(r, StoreRecord::Consumer { value: Some(_), .. })));
    let g = c.consumer_group("g").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.members.len(), 2);
    assert_eq!(assignment::count(&g.members[&classic].assigned), 4);
    assert_eq!(c.list(&[])[0].group_type, "consumer");
    // The classic member learns of the new epoch and rejoins through the mixed path.
    assert_eq!(
        c.heartbeat(2, "g", &classic, None, generation),
        Some(E::RebalanceInProgress)
    );
    let again = join(&mut c, 3, classic_join(&classic, &[0, 1, 2, 3]))
        .try_recv()
        .unwrap();
    assert_eq!(again.error, None);
    assert!(again.leader.is_empty(), "the coordinator assigns");

    // The consumer-protocol member leaves: only a classic member is left, so the
    // group becomes classic again and rebalances.
    let leave = HeartbeatRequest {
        member_epoch: -1,
        ..hb_join("m1")
    };
    c.consumer_heartbeat(4, leave, &topics())
        .unwrap_or_else(|e| panic!("{e}"));
    let records = c.take_effects().records;
    assert!(records
        .iter()
        .any(|r| matches!(r, StoreRecord::Consumer { value: None, .. })));
    assert!(records
        .iter()
        .any(|r| matches!(r, StoreRecord::Group { value: Some(_), .. })));
    assert!(c.consumer_group("g").is_err(), "no longer a consumer group");
    assert_eq!(c.list(&[])[0].group_type, "classic");
    assert_eq!(
        c.describe("g").map(|d| d.state),
        Some(GroupState::PreparingRebalance)
    );
    // It rejoins as a classic member, leads, and the group is Stable again.
    let rejoined = join(&mut c, 5, classic_join(&classic, &[]))
        .try_recv()
        .unwrap();
    assert_eq!(rejoined.error, None);
    assert_eq!(rejoined.leader, classic);
    assert!(rejoined.generation > generation);
}

#[test]
fn the_migration_policy_can_forbid_the_online_upgrade_and_downgrade() {
    let mut c = machine(0);
    c.topics = std::sync::Arc::new(topics());
    c.config.consumer.migration_policy = fjord_group::MigrationPolicy::Downgrade;
    stable_classic_group(&mut c);
    let err = c.consumer_heartbeat(1, hb_join("m1"), &topics()).err();
    assert!(
        matches!(err, Some(fjord_group::GroupError::GroupIdNotFound(_))),
        "{err:?}"
    );
    assert_eq!(c.list(&[])[0].group_type, "classic");

    // Upgrade only: a mixed group whose consumer member leaves stays a consumer group.
    let mut c = machine(0);
    c.topics = std::sync::Arc::new(topics());
    c.config.consumer.migration_policy = fjord_group::MigrationPolicy::Upgrade;
    let (classic, _) = stable_classic_group(&mut c);
    c.consumer_heartbeat(1, hb_join("m1"), &topics())
        .unwrap_or_else(|e| panic!("{e}"));
    let leave = HeartbeatRequest {
        member_epoch: -1,
        ..hb_join("m1")
    };
    c.consumer_heartbeat(2, leave, &topics())
        .unwrap_or_else(|e| panic!("{e}"));
    let g = c.consumer_group("g").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.members.keys().collect::<Vec<_>>(), vec![&classic]);
}

#[test]
fn a_classic_group_with_an_unreadable_subscription_is_not_upgraded() {
    let mut c = machine(0);
    let mut parked = join(&mut c, 0, join_req("", None, &["range"]));
    let member_id = parked.try_recv().map(|r| r.member_id).unwrap_or_default();
    let _joined = join(&mut c, 0, join_req(&member_id, None, &["range"]));
    let err = c.consumer_heartbeat(1, hb_join("m1"), &topics()).err();
    assert!(
        matches!(&err, Some(fjord_group::GroupError::GroupIdNotFound(m)) if m.contains("malformed")),
        "{err:?}"
    );
    assert_eq!(c.list(&[])[0].group_type, "classic");
}
