//! The coordinator state machine driven with an injected clock: no sockets, no sleeps.

use super::*;
use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use tokio::sync::oneshot::{self, error::TryRecvError, Receiver};

pub(super) const SESSION: i32 = 10_000;
pub(super) const REBALANCE: i32 = 30_000;

pub(super) fn machine(initial_delay_ms: i64) -> Coordinator {
    Coordinator::new(GroupConfig {
        initial_rebalance_delay_ms: initial_delay_ms,
        ..GroupConfig::default()
    })
}

pub(super) fn join_req(member: &str, instance: Option<&str>, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member.into(),
        instance_id: instance.map(Into::into),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
            .collect(),
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

pub(super) fn join(c: &mut Coordinator, now: i64, req: JoinRequest) -> Receiver<JoinResponse> {
    let (tx, rx) = oneshot::channel();
    c.join(now, req, tx);
    c.take_effects().deliver();
    rx
}

pub(super) fn sync(
    c: &mut Coordinator,
    now: i64,
    member: &str,
    generation: i32,
    assignments: &[(&str, &str)],
) -> Receiver<SyncResponse> {
    let (tx, rx) = oneshot::channel();
    let req = SyncRequest {
        group_id: "g".into(),
        generation,
        member_id: member.into(),
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
        ..Default::default()
    };
    c.sync(now, req, tx);
    c.take_effects().deliver();
    rx
}

pub(super) fn tick(c: &mut Coordinator, now: i64) {
    c.tick(now);
    c.take_effects().deliver();
}

/// A dynamic member through the MEMBER_ID_REQUIRED round trip; the join is parked.
pub(super) fn join_new(
    c: &mut Coordinator,
    now: i64,
    protocols: &[&str],
) -> (String, Receiver<JoinResponse>) {
    let first = join(c, now, join_req("", None, protocols))
        .try_recv()
        .unwrap();
    assert_eq!(first.error, Some(E::MemberIdRequired));
    assert!(!first.member_id.is_empty());
    let id = first.member_id.clone();
    (id.clone(), join(c, now, join_req(&id, None, protocols)))
}

pub(super) fn state(c: &Coordinator) -> GroupState {
    c.group("g").map_or(GroupState::Dead, |g| g.state)
}

/// Two members through a full join/sync round; returns (leader, follower, generation).
pub(super) fn stable_pair(c: &mut Coordinator) -> (String, String, i32) {
    let (a, mut ra) = join_new(c, 0, &["range"]);
    let (b, mut rb) = join_new(c, 0, &["range"]);
    // Both arrive within the initial delay, so they share the first generation; the
    // second arrival extended the delay once.
    tick(c, 100);
    tick(c, 200);
    let ja = ra.try_recv().unwrap();
    let jb = rb.try_recv().unwrap();
    assert_eq!(ja.generation, jb.generation);
    let (leader, follower) = if ja.leader == a { (a, b) } else { (b, a) };
    let gen = ja.generation;
    let mut rf = sync(c, 201, &follower, gen, &[]);
    assert_eq!(
        rf.try_recv(),
        Err(TryRecvError::Empty),
        "follower waits for the leader"
    );
    let mut rl = sync(c, 201, &leader, gen, &[(&leader, "L"), (&follower, "F")]);
    assert_eq!(rl.try_recv().unwrap().assignment, Bytes::from("L"));
    assert_eq!(rf.try_recv().unwrap().assignment, Bytes::from("F"));
    assert_eq!(state(c), GroupState::Stable);
    (leader, follower, gen)
}

#[test]
fn join_with_a_session_timeout_outside_the_group_bounds_is_refused() {
    let mut c = machine(0);
    for session in [
        c.config.min_session_timeout_ms - 1,
        c.config.max_session_timeout_ms + 1,
    ] {
        let mut req = join_req("", None, &["range"]);
        req.session_timeout_ms = session;
        let resp = join(&mut c, 0, req).try_recv().unwrap();
        assert_eq!(resp.error, Some(E::InvalidSessionTimeout), "{session}");
    }
    assert!(
        c.group("g").is_none(),
        "no group is created for a refused join"
    );
}

#[test]
fn join_and_sync_round_makes_the_group_stable() {
    let mut c = machine(100);
    let (leader, follower, gen) = stable_pair(&mut c);
    assert_eq!(gen, 1);
    assert_eq!(c.heartbeat(3, "g", &leader, None, gen), None);
    assert_eq!(c.heartbeat(3, "g", &follower, None, gen), None);
    let d = c.describe("g").unwrap();
    assert_eq!(d.protocol_data, "range");
    assert_eq!(d.members.len(), 2);
}

#[test]
fn new_dynamic_member_must_rejoin_with_the_member_id_it_was_given() {
    let mut c = machine(0);
    let (id, mut rx) = join_new(&mut c, 0, &["range"]);
    let resp = rx.try_recv().unwrap();
    assert_eq!(resp.error, None);
    assert_eq!(resp.member_id, id);
    assert_eq!(resp.leader, id);
    assert_eq!(resp.members.len(), 1, "the leader gets the member list");
    // v0-v3 clients join in one step.
    let mut old = join_req("", None, &["range"]);
    old.require_known_member_id = false;
    old.group_id = "h".into();
    let resp = join(&mut c, 0, old).try_recv().unwrap();
    assert_eq!(resp.error, None);
}

#[test]
fn initial_delay_holds_the_first_join_and_extends_while_members_arrive() {
    let mut c = machine(3000);
    let (_, mut ra) = join_new(&mut c, 0, &["range"]);
    tick(&mut c, 2000);
    let (_, mut rb) = join_new(&mut c, 2000, &["range"]);
    tick(&mut c, 2999);
    assert!(ra.try_recv().is_err(), "nothing before the initial delay");
    tick(&mut c, 3000);
    assert!(
        ra.try_recv().is_err(),
        "a member joined during the delay: extended"
    );
    tick(&mut c, 6000);
    assert_eq!(ra.try_recv().unwrap().generation, 1);
    assert_eq!(rb.try_recv().unwrap().generation, 1);
}

#[test]
fn protocol_is_chosen_among_those_every_member_supports() {
    let mut c = machine(100);
    let (_, _ra) = join_new(&mut c, 0, &["cooperative-sticky", "range"]);
    let (_, _rb) = join_new(&mut c, 0, &["range", "cooperative-sticky"]);
    let (_, _rc) = join_new(&mut c, 0, &["range"]);
    tick(&mut c, 100);
    tick(&mut c, 200);
    assert_eq!(
        c.group("g").unwrap().protocol_name.as_deref(),
        Some("range")
    );
    let bad = join(&mut c, 2, join_req("", None, &["roundrobin"]))
        .try_recv()
        .unwrap();
    assert_eq!(bad.error, Some(E::InconsistentGroupProtocol));
}

#[test]
fn session_expiry_removes_the_member_and_rebalances() {
    let mut c = machine(100);
    let (leader, follower, gen) = stable_pair(&mut c);
    tick(&mut c, 9_000);
    assert_eq!(c.heartbeat(9_000, "g", &leader, None, gen), None);
    tick(&mut c, 10_200);
    assert_eq!(state(&c), GroupState::Stable);
    tick(&mut c, 10_201);
    assert_eq!(
        state(&c),
        GroupState::PreparingRebalance,
        "the follower's session lapsed"
    );
    assert_eq!(
        c.heartbeat(10_204, "g", &follower, None, gen),
        Some(E::UnknownMemberId)
    );
    assert_eq!(
        c.heartbeat(10_204, "g", &leader, None, gen),
        Some(E::RebalanceInProgress)
    );
    let mut r = join(&mut c, 10_205, join_req(&leader, None, &["range"]));
    let resp = r.try_recv().unwrap();
    assert_eq!(resp.generation, gen + 1);
    assert_eq!(resp.members.len(), 1);
}

#[test]
fn a_new_member_triggers_a_rebalance_that_waits_for_everyone() {
    let mut c = machine(100);
    let (leader, follower, gen) = stable_pair(&mut c);
    let (_, mut rc) = join_new(&mut c, 100, &["range"]);
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    assert_eq!(
        c.heartbeat(101, "g", &follower, None, gen),
        Some(E::RebalanceInProgress)
    );
    let mut rl = join(&mut c, 102, join_req(&leader, None, &["range"]));
    assert!(rc.try_recv().is_err());
    let mut rf = join(&mut c, 103, join_req(&follower, None, &["range"]));
    let l = rl.try_recv().unwrap();
    assert_eq!(l.generation, gen + 1);
    assert_eq!(l.members.len(), 3);
    assert!(rf.try_recv().unwrap().members.is_empty());
    assert_eq!(rc.try_recv().unwrap().generation, gen + 1);
}

#[test]
fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let mut c = machine(100);
    let (leader, follower, gen) = stable_pair(&mut c);
    assert_eq!(c.leave(10, "g", vec![]).unwrap().len(), 0);
    let mut rl = join(&mut c, 10, join_req(&leader, None, &["range"]));
    // The follower keeps heartbeating but never rejoins.
    for t in (1000..REBALANCE as i64).step_by(3000) {
        c.heartbeat(t, "g", &follower, None, gen);
        tick(&mut c, t);
    }
    assert!(rl.try_recv().is_err());
    tick(&mut c, 10 + REBALANCE as i64);
    let resp = rl.try_recv().unwrap();
    assert_eq!(resp.members.len(), 1);
}

#[test]
fn leave_group_rebalances_and_the_last_leave_empties_the_group() {
    let mut c = machine(100);
    let (leader, follower, _) = stable_pair(&mut c);
    let out = c
        .leave(
            5,
            "g",
            vec![
                Leaving {
                    member_id: follower.clone(),
                    instance_id: None,
                    error: None,
                },
                Leaving {
                    member_id: "nobody".into(),
                    instance_id: None,
                    error: None,
                },
            ],
        )
        .unwrap();
    assert_eq!(out[0].error, None);
    assert_eq!(out[1].error, Some(E::UnknownMemberId));
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    c.leave(
        6,
        "g",
        vec![Leaving {
            member_id: leader,
            instance_id: None,
            error: None,
        }],
    )
    .unwrap();
    assert_eq!(state(&c), GroupState::Empty);
    let effects = c.take_effects();
    assert!(effects
        .records
        .iter()
        .any(|r| matches!(r, StoreRecord::Group { value: Some(s), .. } if s.members.is_empty())));
}

#[test]
fn static_member_rejoining_within_its_session_keeps_its_assignment_without_a_rebalance() {
    let mut c = machine(100);
    let mut ra = join(&mut c, 0, join_req("", Some("i-a"), &["range"]));
    let mut rb = join(&mut c, 0, join_req("", Some("i-b"), &["range"]));
    tick(&mut c, 100);
    tick(&mut c, 200);
    let a = ra.try_recv().unwrap();
    let b = rb.try_recv().unwrap();
    assert_eq!(a.error, None, "static members skip MEMBER_ID_REQUIRED");
    let gen = a.generation;
    let (leader, follower) = if a.leader == a.member_id {
        (a.member_id, b.member_id)
    } else {
        (b.member_id, a.member_id)
    };
    drop(sync(&mut c, 1, &follower, gen, &[]));
    drop(sync(
        &mut c,
        1,
        &leader,
        gen,
        &[(&leader, "L"), (&follower, "F")],
    ));
    assert_eq!(state(&c), GroupState::Stable);
    let follower_instance = if c.group("g").unwrap().static_members["i-a"] == follower {
        "i-a"
    } else {
        "i-b"
    };
    // The follower restarts: a new join with no member id, same instance id.
    let mut r = join(
        &mut c,
        5_000,
        join_req("", Some(follower_instance), &["range"]),
    );
    let resp = r.try_recv().unwrap();
    assert_eq!(resp.error, None);
    assert_eq!(resp.generation, gen, "no new generation");
    assert_ne!(resp.member_id, follower);
    assert_eq!(state(&c), GroupState::Stable);
    let s = sync(&mut c, 5_001, &resp.member_id, gen, &[])
        .try_recv()
        .unwrap();
    assert_eq!(s.assignment, Bytes::from("F"), "its old assignment");
    // The old instance is fenced.
    assert_eq!(
        c.heartbeat(5_002, "g", &follower, Some(follower_instance), gen),
        Some(E::FencedInstanceId)
    );
    let fenced = c.commit(
        5_002,
        CommitRequest {
            group_id: "g".into(),
            generation: gen,
            member_id: follower.clone(),
            instance_id: Some(follower_instance.into()),
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 1, -1, None)],
            api_version: 8,
        },
    );
    assert_eq!(fenced[0].2, Some(E::FencedInstanceId));
}

#[test]
fn commits_check_generation_and_member() {
    let mut c = machine(100);
    let (leader, _, gen) = stable_pair(&mut c);
    let commit = |member: &str, generation: i32| CommitRequest {
        group_id: "g".into(),
        generation,
        member_id: member.into(),
        instance_id: None,
        retention_time_ms: -1,
        offsets: vec![("t".into(), 0, 42, 3, Some("m".into()))],
        api_version: 8,
    };
    assert_eq!(
        c.commit(10, commit(&leader, gen - 1))[0].2,
        Some(E::IllegalGeneration)
    );
    assert_eq!(
        c.commit(10, commit("stranger", gen))[0].2,
        Some(E::UnknownMemberId)
    );
    assert_eq!(
        c.commit(10, commit("", -1))[0].2,
        Some(E::UnknownMemberId),
        "a simple commit needs an Empty group (Kafka: only members commit otherwise)"
    );
    assert_eq!(
        c.heartbeat(10, "g", &leader, None, gen + 1),
        Some(E::IllegalGeneration)
    );
    assert_eq!(c.commit(10, commit(&leader, gen))[0].2, None);
    let f = c.fetch_offsets("g", Some(vec![("t".into(), 0), ("t".into(), 1)]));
    assert_eq!(
        (f[0].offset, f[0].leader_epoch, f[0].metadata.as_str()),
        (42, 3, "m")
    );
    assert_eq!(f[1].offset, -1);
    let records = c.take_effects().records;
    assert!(records
        .iter()
        .any(|r| matches!(r, StoreRecord::Offset { value: Some(v), .. } if v.offset == 42)));
    // A standalone consumer commits into a group that does not exist yet.
    let mut solo = commit("", -1);
    solo.group_id = "solo".into();
    assert_eq!(c.commit(11, solo)[0].2, None);
    assert_eq!(c.fetch_offsets("solo", None).len(), 1);
}

#[test]
fn commits_during_completing_rebalance_are_refused() {
    let mut c = machine(0);
    let (_, mut r) = join_new(&mut c, 0, &["range"]);
    let j = r.try_recv().unwrap();
    let out = c.commit(
        1,
        CommitRequest {
            group_id: "g".into(),
            generation: j.generation,
            member_id: j.member_id,
            instance_id: None,
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 1, -1, None)],
            api_version: 8,
        },
    );
    assert_eq!(out[0].2, Some(E::RebalanceInProgress));
}

#[test]
fn only_empty_groups_can_be_deleted() {
    let mut c = machine(100);
    let (leader, follower, _) = stable_pair(&mut c);
    assert_eq!(c.delete_group("g"), Err(E::NonEmptyGroup));
    assert_eq!(c.delete_group("nope"), Err(E::GroupIdNotFound));
    c.leave(
        1,
        "g",
        vec![
            Leaving {
                member_id: leader,
                instance_id: None,
                error: None,
            },
            Leaving {
                member_id: follower,
                instance_id: None,
                error: None,
            },
        ],
    )
    .unwrap();
    c.take_effects();
    assert_eq!(c.delete_group("g"), Ok(()));
    assert!(c.list(&[]).is_empty());
    assert!(matches!(
        c.take_effects().records.last(),
        Some(StoreRecord::Group { value: None, .. })
    ));
}

#[test]
fn offsets_expire_retention_after_the_group_became_empty() {
    let mut c = machine(100);
    let retention = c.config.offsets_retention_ms;
    let (leader, follower, gen) = stable_pair(&mut c);
    c.commit(
        100,
        CommitRequest {
            group_id: "g".into(),
            generation: gen,
            member_id: leader.clone(),
            instance_id: None,
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 7, -1, None)],
            api_version: 8,
        },
    );
    // Long-lived group: no expiry while it is active, however old the commit.
    assert_eq!(c.expire_offsets(100 + 2 * retention), 0);
    let left = 200 + 2 * retention;
    for m in [leader, follower] {
        c.heartbeat(left - 1, "g", &m, None, gen);
    }
    c.leave(
        left,
        "g",
        vec![Leaving {
            member_id: String::new(),
            instance_id: None,
            error: None,
        }],
    )
    .unwrap();
    let all: Vec<Leaving> = c
        .group("g")
        .unwrap()
        .members
        .keys()
        .map(|m| Leaving {
            member_id: m.clone(),
            instance_id: None,
            error: None,
        })
        .collect();
    c.leave(left, "g", all).unwrap();
    assert_eq!(state(&c), GroupState::Empty);
    c.take_effects();
    assert_eq!(c.expire_offsets(left + retention - 1), 0);
    assert_eq!(c.expire_offsets(left + retention), 1);
    assert!(
        c.group("g").is_none(),
        "an Empty group without offsets is removed"
    );
    let records = c.take_effects().records;
    assert!(records.contains(&StoreRecord::Offset {
        group: "g".into(),
        topic: "t".into(),
        partition: 0,
        value: None
    }));
    assert!(records.contains(&StoreRecord::Group {
        group: "g".into(),
        value: None
    }));
}

#[test]
fn offset_delete_refuses_topics_an_active_group_subscribes_to() {
    let mut c = machine(0);
    // ConsumerProtocolSubscription v0 for topic "t".
    let sub = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0]);
    let mut req = join_req("", None, &[]);
    req.protocols = vec![("range".into(), sub)];
    req.require_known_member_id = false;
    let j = join(&mut c, 0, req).try_recv().unwrap();
    drop(sync(&mut c, 1, &j.member_id, j.generation, &[]));
    c.commit(
        2,
        CommitRequest {
            group_id: "g".into(),
            generation: j.generation,
            member_id: j.member_id,
            instance_id: None,
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 1, -1, None), ("u".into(), 0, 1, -1, None)],
            api_version: 8,
        },
    );
    let out = c
        .delete_offsets("g", vec![("t".into(), 0), ("u".into(), 0)])
        .unwrap();
    assert_eq!(out[0].2, Some(E::GroupSubscribedToTopic));
    assert_eq!(out[1].2, None);
    assert_eq!(c.delete_offsets("nope", vec![]), Err(E::GroupIdNotFound));
}

#[test]
fn replayed_records_restore_offsets_and_stable_members() {
    let mut c = machine(100);
    let (leader, _, gen) = stable_pair(&mut c);
    // The helpers drop records; this is what the leader's SyncGroup wrote.
    c.store_group("g");
    c.commit(
        5,
        CommitRequest {
            group_id: "g".into(),
            generation: gen,
            member_id: leader.clone(),
            instance_id: None,
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 9, -1, None)],
            api_version: 8,
        },
    );
    let records = c.take_effects().records;
    let mut restored = machine(0);
    for r in records {
        let (k, v) = store::encode(&r);
        restored.replay(store::decode(k, v).unwrap().unwrap(), 1_000);
    }
    restored.finish_load();
    assert_eq!(restored.fetch_offsets("g", None)[0].offset, 9);
    assert_eq!(state(&restored), GroupState::Stable);
    assert_eq!(restored.heartbeat(1_001, "g", &leader, None, gen), None);
}
