//! Kafka's order of checks and state transitions for the classic protocol, one case
//! per test, on the sans-IO machine with an injected clock (see the comments at the top
//! of join.rs, sync.rs, heartbeat.rs, leave.rs and offsets.rs for the orders).

use super::tests::{join, join_new, join_req, machine, stable_pair, state, sync, tick, REBALANCE};
use super::*;
use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;

fn commit(member: &str, instance: Option<&str>, generation: i32) -> CommitRequest {
    CommitRequest {
        group_id: "g".into(),
        generation,
        member_id: member.into(),
        instance_id: instance.map(Into::into),
        retention_time_ms: -1,
        offsets: vec![("t".into(), 0, 7, -1, None)],
        api_version: 8,
    }
}

fn leaving(member: &str, instance: Option<&str>) -> Leaving {
    Leaving {
        member_id: member.into(),
        instance_id: instance.map(Into::into),
        error: None,
    }
}

/// Two static members (instances "i-a", "i-b") through a full round; returns
/// (leader id, leader instance, follower id, follower instance, generation).
fn stable_static_pair(c: &mut Coordinator) -> (String, String, String, String, i32) {
    let mut ra = join(c, 0, join_req("", Some("i-a"), &["range"]));
    let mut rb = join(c, 0, join_req("", Some("i-b"), &["range"]));
    tick(c, 100);
    tick(c, 200);
    let a = ra.try_recv().unwrap();
    let b = rb.try_recv().unwrap();
    let gen = a.generation;
    let ((l, li), (f, fi)) = if a.leader == a.member_id {
        ((a.member_id, "i-a"), (b.member_id, "i-b"))
    } else {
        ((b.member_id, "i-b"), (a.member_id, "i-a"))
    };
    drop(sync(c, 201, &f, gen, &[]));
    drop(sync(c, 201, &l, gen, &[(&l, "L"), (&f, "F")]));
    assert_eq!(state(c), GroupState::Stable);
    (l, li.into(), f, fi.into(), gen)
}

#[test]
fn static_leader_rejoining_below_v9_is_told_the_previous_leader_and_no_members() {
    let mut c = machine(100);
    let (old_leader, instance, _, _, gen) = stable_static_pair(&mut c);
    let mut req = join_req("", Some(&instance), &["range"]);
    req.supports_skip_assignment = false;
    let resp = join(&mut c, 1_000, req).try_recv().unwrap();
    assert_eq!(resp.error, None);
    assert!(!resp.skip_assignment, "not encodable below v9");
    assert!(resp.members.is_empty(), "it must not assign");
    assert_eq!(
        resp.leader, old_leader,
        "Kafka answers the previous leader id"
    );
    assert_ne!(resp.member_id, old_leader);
    assert_eq!(resp.generation, gen);
    assert_eq!(state(&c), GroupState::Stable);
    // Syncing as a follower hands it the assignment it had.
    let s = sync(&mut c, 1_001, &resp.member_id, gen, &[])
        .try_recv()
        .unwrap();
    assert_eq!((s.error, s.assignment), (None, Bytes::from("L")));
}

#[test]
fn static_leader_rejoining_at_v9_is_told_to_skip_the_assignment() {
    let mut c = machine(100);
    let (_, instance, _, _, gen) = stable_static_pair(&mut c);
    let resp = join(&mut c, 1_000, join_req("", Some(&instance), &["range"]))
        .try_recv()
        .unwrap();
    assert_eq!(resp.error, None);
    assert!(resp.skip_assignment);
    assert_eq!(resp.leader, resp.member_id, "it is the leader");
    assert_eq!(resp.members.len(), 2);
    assert_eq!(resp.generation, gen);
    assert_eq!(state(&c), GroupState::Stable);
}

#[test]
fn static_member_rejoining_during_completing_rebalance_starts_a_new_round() {
    let mut c = machine(0);
    let mut ra = join(&mut c, 0, join_req("", Some("i-a"), &["range"]));
    let first = ra.try_recv().unwrap();
    assert_eq!(state(&c), GroupState::CompletingRebalance);
    let mut again = join(&mut c, 1, join_req("", Some("i-a"), &["range"]));
    // The new round completes at once: the only member has rejoined.
    let resp = again.try_recv().unwrap();
    assert_eq!(resp.error, None);
    assert_eq!(resp.generation, first.generation + 1);
    assert_eq!(state(&c), GroupState::CompletingRebalance);
}

#[test]
fn offset_commit_with_an_empty_member_id_is_an_unknown_member() {
    let mut c = machine(100);
    let (_, _, gen) = stable_pair(&mut c);
    assert_eq!(
        c.commit(10, commit("", None, gen))[0].2,
        Some(E::UnknownMemberId),
        "even with the right generation"
    );
    assert_eq!(
        c.commit(10, commit("", None, -1))[0].2,
        Some(E::UnknownMemberId)
    );
    assert_eq!(c.fetch_offsets("g", None).len(), 0);
}

#[test]
fn offset_commit_checks_instance_then_member_then_generation() {
    let mut c = machine(100);
    let (leader, linst, follower, _, gen) = stable_static_pair(&mut c);
    let cases = [
        // Unknown instance id: UNKNOWN_MEMBER_ID, before the generation.
        (
            commit(&leader, Some("nobody"), gen + 5),
            Some(E::UnknownMemberId),
        ),
        // Another member's instance: fenced, before the generation.
        (
            commit(&follower, Some(&linst), gen + 5),
            Some(E::FencedInstanceId),
        ),
        // Unknown member: before the generation.
        (commit("stranger", None, gen + 5), Some(E::UnknownMemberId)),
        (
            commit(&leader, Some(&linst), gen - 1),
            Some(E::IllegalGeneration),
        ),
        (commit(&leader, Some(&linst), gen), None),
    ];
    for (req, want) in cases {
        let label = format!("{req:?}");
        assert_eq!(c.commit(10, req)[0].2, want, "{label}");
    }
}

#[test]
fn offset_commit_during_completing_rebalance_checks_the_generation_first() {
    let mut c = machine(100);
    let (leader, follower, gen) = stable_pair(&mut c);
    // Both rejoin (cooperative follow-up round): the group completes the join phase.
    let mut rl = join(&mut c, 1_000, join_req(&leader, None, &["range"]));
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    // While PreparingRebalance, members of the current generation still commit.
    assert_eq!(c.commit(1_001, commit(&follower, None, gen))[0].2, None);
    let mut rf = join(&mut c, 1_002, join_req(&follower, None, &["range"]));
    let new_gen = rl.try_recv().unwrap().generation;
    assert_eq!(rf.try_recv().unwrap().generation, new_gen);
    assert_eq!(state(&c), GroupState::CompletingRebalance);
    // A commit of the old generation is ILLEGAL_GENERATION (the member rejoins)...
    assert_eq!(
        c.commit(1_003, commit(&follower, None, gen))[0].2,
        Some(E::IllegalGeneration)
    );
    // ...an unknown member is UNKNOWN_MEMBER_ID...
    assert_eq!(
        c.commit(1_003, commit("stranger", None, new_gen))[0].2,
        Some(E::UnknownMemberId)
    );
    // ...and only a current member that has not synced yet is told to wait.
    assert_eq!(
        c.commit(1_003, commit(&follower, None, new_gen))[0].2,
        Some(E::RebalanceInProgress)
    );
}

#[test]
fn heartbeat_checks_instance_then_member_then_generation_then_state() {
    let mut c = machine(100);
    let (leader, linst, follower, finst, gen) = stable_static_pair(&mut c);
    let hb = |c: &mut Coordinator, m: &str, i: Option<&str>, g: i32| c.heartbeat(10, "g", m, i, g);
    assert_eq!(
        hb(&mut c, &leader, Some("nobody"), gen + 1),
        Some(E::UnknownMemberId)
    );
    assert_eq!(
        hb(&mut c, &follower, Some(&linst), gen + 1),
        Some(E::FencedInstanceId)
    );
    assert_eq!(
        hb(&mut c, "stranger", None, gen + 1),
        Some(E::UnknownMemberId)
    );
    assert_eq!(
        hb(&mut c, &leader, None, gen + 1),
        Some(E::IllegalGeneration)
    );
    assert_eq!(hb(&mut c, &follower, Some(&finst), gen), None);
    assert_eq!(
        c.heartbeat(10, "nope", &leader, None, gen),
        Some(E::UnknownMemberId)
    );
    // The leader rejoins: the follower is told to rejoin too.
    drop(join(
        &mut c,
        11,
        join_req(&leader, Some(&linst), &["range"]),
    ));
    assert_eq!(
        hb(&mut c, &follower, Some(&finst), gen),
        Some(E::RebalanceInProgress)
    );
}

#[test]
fn sync_checks_member_then_generation_then_protocol_then_state() {
    let mut c = machine(100);
    let (leader, linst, follower, _, gen) = stable_static_pair(&mut c);
    let try_sync = |c: &mut Coordinator, req: SyncRequest| {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        c.sync(20, req, tx);
        c.take_effects().deliver();
        rx.try_recv().unwrap().error
    };
    let base = SyncRequest {
        group_id: "g".into(),
        generation: gen + 1,
        member_id: follower.clone(),
        instance_id: Some(linst.clone()),
        protocol_type: Some("other".into()),
        ..Default::default()
    };
    assert_eq!(try_sync(&mut c, base.clone()), Some(E::FencedInstanceId));
    let base = SyncRequest {
        instance_id: None,
        ..base
    };
    assert_eq!(try_sync(&mut c, base.clone()), Some(E::IllegalGeneration));
    let base = SyncRequest {
        generation: gen,
        ..base
    };
    assert_eq!(
        try_sync(&mut c, base.clone()),
        Some(E::InconsistentGroupProtocol)
    );
    let base = SyncRequest {
        protocol_type: Some("consumer".into()),
        ..base
    };
    assert_eq!(
        try_sync(&mut c, base.clone()),
        None,
        "Stable: its assignment"
    );
    drop(join(
        &mut c,
        21,
        join_req(&leader, Some(&linst), &["range"]),
    ));
    assert_eq!(try_sync(&mut c, base), Some(E::RebalanceInProgress));
}

#[test]
fn known_member_join_with_an_unknown_instance_id_is_an_unknown_member() {
    let mut c = machine(100);
    let (leader, linst, follower, _, _) = stable_static_pair(&mut c);
    let resp = join(&mut c, 10, join_req(&leader, Some("nobody"), &["range"]))
        .try_recv()
        .unwrap();
    assert_eq!(resp.error, Some(E::UnknownMemberId));
    let resp = join(&mut c, 10, join_req(&follower, Some(&linst), &["range"]))
        .try_recv()
        .unwrap();
    assert_eq!(resp.error, Some(E::FencedInstanceId));
    assert_eq!(state(&c), GroupState::Stable, "neither starts a rebalance");
}

#[test]
fn the_last_leave_empties_the_group_at_once_and_it_can_be_deleted() {
    let mut c = machine(100);
    let (leader, follower, gen) = stable_pair(&mut c);
    let out = c
        .leave(
            50,
            "g",
            vec![leaving(&leader, None), leaving(&follower, None)],
        )
        .unwrap();
    assert!(out.iter().all(|l| l.error.is_none()), "{out:?}");
    // No tick: the state is Empty as soon as the request is answered.
    assert_eq!(state(&c), GroupState::Empty);
    assert_eq!(c.group("g").map(|g| g.generation), Some(gen + 1));
    assert_eq!(c.list(&[GroupState::Empty]).len(), 1);
    assert_eq!(c.delete_group("g"), Ok(()));
}

#[test]
fn the_last_session_expiring_empties_the_group_in_the_same_tick() {
    let mut c = machine(0);
    let (_, mut r) = join_new(&mut c, 0, &["range"]);
    let j = r.try_recv().unwrap();
    drop(sync(&mut c, 1, &j.member_id, j.generation, &[]));
    assert_eq!(state(&c), GroupState::Stable);
    tick(&mut c, 1 + i64::from(super::tests::SESSION));
    assert_eq!(state(&c), GroupState::Empty);
}

#[test]
fn leave_checks_dead_unknown_group_pending_and_fenced_members() {
    let mut c = machine(100);
    let out = c.leave(1, "nope", vec![leaving("m", None)]).unwrap();
    assert_eq!(out[0].error, Some(E::UnknownMemberId));
    let (leader, linst, follower, finst, _) = stable_static_pair(&mut c);
    let out = c
        .leave(
            2,
            "g",
            vec![
                leaving(&follower, Some(&linst)),
                leaving("", Some("nobody")),
                leaving(&leader, Some("nobody")),
            ],
        )
        .unwrap();
    let errors: Vec<_> = out.iter().map(|l| l.error).collect();
    assert_eq!(
        errors,
        vec![
            Some(E::FencedInstanceId),
            Some(E::UnknownMemberId),
            Some(E::UnknownMemberId)
        ]
    );
    assert_eq!(state(&c), GroupState::Stable);
    // An admin removes a static member by instance id alone.
    let out = c.leave(3, "g", vec![leaving("", Some(&finst))]).unwrap();
    assert_eq!(out[0].error, None);
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    // A pending (MEMBER_ID_REQUIRED) member id leaves quietly.
    let pending = join(&mut c, 4, join_req("", None, &["range"]))
        .try_recv()
        .unwrap()
        .member_id;
    let out = c.leave(5, "g", vec![leaving(&pending, None)]).unwrap();
    assert_eq!(out[0].error, None);
    if let Some(g) = c.groups.get_mut("g") {
        g.transition(GroupState::Dead, 6);
    }
    assert_eq!(
        c.leave(6, "g", vec![leaving(&leader, None)]),
        Err(E::CoordinatorNotAvailable)
    );
}

#[test]
fn a_join_phase_without_any_rejoined_member_waits_another_rebalance_timeout() {
    let mut c = machine(100);
    let (leader, linst, follower, finst, gen) = stable_static_pair(&mut c);
    // The follower leaves; the static leader keeps its session alive but never rejoins.
    c.leave(1_000, "g", vec![leaving(&follower, Some(&finst))])
        .unwrap();
    assert_eq!(state(&c), GroupState::PreparingRebalance);
    let deadline = 1_000 + i64::from(REBALANCE);
    for t in (1_000..=deadline).step_by(5_000) {
        assert_eq!(
            c.heartbeat(t, "g", &leader, Some(&linst), gen),
            Some(E::RebalanceInProgress)
        );
        tick(&mut c, t);
    }
    assert_eq!(state(&c), GroupState::PreparingRebalance, "postponed");
    assert_eq!(c.group("g").map(|g| g.generation), Some(gen));
    assert_eq!(
        c.group("g").and_then(|g| g.join_deadline_ms),
        Some(deadline + i64::from(REBALANCE))
    );
}

#[test]
fn timers_fire_from_the_heap_only_for_groups_that_are_due() {
    let mut c = machine(0);
    for (i, group) in ["a", "b", "c"].iter().enumerate() {
        let mut req = join_req("", None, &["range"]);
        req.group_id = group.to_string();
        req.require_known_member_id = false;
        req.session_timeout_ms = 10_000 * (i as i32 + 1);
        drop(join(&mut c, 0, req));
    }
    // Each group completed its join; group a's member session (10 s) comes first.
    assert_eq!(c.next_deadline(), Some(10_000));
    for group in ["a", "b", "c"] {
        let g = c.group(group).unwrap();
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let (id, gen) = (g.leader.clone().unwrap(), g.generation);
        let (tx, _rx) = tokio::sync::oneshot::channel();
        let req = SyncRequest {
            group_id: group.into(),
            generation: gen,
            member_id: id,
            ..Default::default()
        };
        c.sync(1, req, tx);
        c.take_effects().deliver();
    }
    // Sessions now run from the sync at t=1: 10 s, 20 s and 30 s.
    tick(&mut c, 10_000);
    assert_eq!(c.group("a").map(|g| g.state), Some(GroupState::Stable));
    tick(&mut c, 10_001);
    assert_eq!(c.group("a").map(|g| g.state), Some(GroupState::Empty));
    assert_eq!(c.group("b").map(|g| g.state), Some(GroupState::Stable));
    // Group b's entry from before its sync is still armed: it fires early, finds
    // nothing due and re-arms at 20 001.
    assert_eq!(c.next_deadline(), Some(20_000));
    tick(&mut c, 20_000);
    assert_eq!(c.group("b").map(|g| g.state), Some(GroupState::Stable));
    assert_eq!(c.next_deadline(), Some(20_001));
}
