//! Classic members in a live consumer group, driven with an injected clock.

use crate::assignment::{self, Assignment};
use crate::{ClassicJoin, ConsumerGroup, GroupConfig, GroupError, HeartbeatRequest, Topics};
use bytes::Bytes;

fn topics() -> Topics {
    Topics::new([("t".to_string(), uuid::Uuid::from_bytes([7; 16]), 4)])
}

fn tid() -> uuid::Uuid {
    uuid::Uuid::from_bytes([7; 16])
}

fn consumer_hb(member: &str, epoch: i32, owned: Option<Assignment>) -> HeartbeatRequest {
    HeartbeatRequest {
        version: 1,
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
        subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
        owned: owned.or_else(|| (epoch == 0).then(Assignment::new)),
        ..HeartbeatRequest::default()
    }
}

fn classic_join(member: &str, owned: &[i32]) -> ClassicJoin {
    ClassicJoin {
        member_id: member.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
        topics: vec!["t".into()],
        owned: owned.iter().map(|p| ("t".to_string(), *p)).collect(),
        ..ClassicJoin::default()
    }
}

fn parts(a: &Assignment) -> Vec<i32> {
    assignment::partitions(a).map(|(_, p)| p).collect()
}

#[test]
fn a_classic_member_joining_a_live_consumer_group_gets_the_partitions_the_other_releases() {
    let (t, cfg) = (topics(), GroupConfig::default());
    let mut g = ConsumerGroup::new("g");
    let c = g.heartbeat(0, consumer_hb("c", 0, None), &t, &cfg).unwrap();
    assert_eq!(c.assignment.as_ref().map(parts), Some(vec![0, 1, 2, 3]));
    let joined = g.classic_join(1, classic_join("k", &[]), &t, &cfg).unwrap();
    assert_eq!(joined.protocol_name, "range");
    // Its target partitions are still the consumer member's: it holds nothing yet and
    // has nothing to do but wait (no needless rejoin).
    let held = g.classic_sync(1, "k", None, joined.generation).unwrap();
    assert!(held.is_empty());
    assert_eq!(
        g.classic_heartbeat(2, "k", None, joined.generation, &t, &cfg),
        Ok(())
    );
    // The consumer member is told to revoke two, and confirms.
    let r = g
        .heartbeat(3, consumer_hb("c", c.member_epoch, None), &t, &cfg)
        .unwrap();
    let kept = r.assignment.clone().unwrap();
    assert_eq!(assignment::count(&kept), 2);
    let r = g
        .heartbeat(
            4,
            consumer_hb("c", r.member_epoch, Some(kept.clone())),
            &t,
            &cfg,
        )
        .unwrap();
    // Now the classic member's partitions are free: its heartbeat says rejoin, the
    // rejoin and sync hand them over.
    assert_eq!(
        g.classic_heartbeat(5, "k", None, joined.generation, &t, &cfg),
        Err(GroupError::RebalanceInProgress)
    );
    let again = g.classic_join(6, classic_join("k", &[]), &t, &cfg).unwrap();
    let held = g.classic_sync(6, "k", None, again.generation).unwrap();
    assert_eq!(assignment::count(&held), 2);
    for (_, p) in assignment::partitions(&held) {
        assert!(
            !assignment::contains(&kept, tid(), p),
            "partition {p} owned twice"
        );
        assert_eq!(g.owner(tid(), p), Some("k"));
    }
    assert_eq!(
        g.classic_heartbeat(7, "k", None, again.generation, &t, &cfg),
        Ok(())
    );
    assert_eq!(
        r.member_epoch, again.generation,
        "both at the group's epoch"
    );
    assert_eq!(g.state(), crate::ConsumerGroupState::Stable);
}

#[test]
fn a_classic_member_with_partitions_to_give_up_is_told_to_rebalance_and_revokes_on_rejoin() {
    let (t, cfg) = (topics(), GroupConfig::default());
    let mut g = ConsumerGroup::new("g");
    let first = g.classic_join(0, classic_join("k", &[]), &t, &cfg).unwrap();
    let held = g.classic_sync(0, "k", None, first.generation).unwrap();
    assert_eq!(parts(&held), vec![0, 1, 2, 3]);
    let c = g.heartbeat(1, consumer_hb("c", 0, None), &t, &cfg).unwrap();
    assert!(c.assignment.as_ref().is_some_and(Assignment::is_empty));
    assert_eq!(
        g.classic_heartbeat(2, "k", None, first.generation, &t, &cfg),
        Err(GroupError::RebalanceInProgress)
    );
    // A cooperative client rejoins still owning what it keeps.
    let again = g
        .classic_join(3, classic_join("k", &[0, 1]), &t, &cfg)
        .unwrap();
    assert!(again.generation > first.generation);
    let held = g.classic_sync(3, "k", None, again.generation).unwrap();
    assert_eq!(parts(&held), vec![0, 1]);
    let c = g
        .heartbeat(4, consumer_hb("c", c.member_epoch, None), &t, &cfg)
        .unwrap();
    assert_eq!(c.assignment.as_ref().map(parts), Some(vec![2, 3]));
}

#[test]
fn classic_sync_and_heartbeat_check_member_then_generation() {
    let (t, cfg) = (topics(), GroupConfig::default());
    let mut g = ConsumerGroup::new("g");
    let j = g.classic_join(0, classic_join("k", &[]), &t, &cfg).unwrap();
    assert!(matches!(
        g.classic_sync(0, "nobody", None, j.generation),
        Err(GroupError::UnknownMemberId(_))
    ));
    assert!(matches!(
        g.classic_heartbeat(0, "k", None, j.generation + 5, &t, &cfg),
        Err(GroupError::IllegalGeneration(_))
    ));
    // A consumer-protocol member is not reachable through the classic calls.
    g.heartbeat(0, consumer_hb("c", 0, None), &t, &cfg).unwrap();
    assert!(matches!(
        g.classic_sync(0, "c", None, 1),
        Err(GroupError::UnknownMemberId(_))
    ));
    assert!(!g.only_classic_members());
}

#[test]
fn a_classic_member_leaving_frees_its_partitions_for_the_consumer_member() {
    let (t, cfg) = (topics(), GroupConfig::default());
    let mut g = ConsumerGroup::new("g");
    g.classic_join(0, classic_join("k", &[]), &t, &cfg).unwrap();
    let c = g.heartbeat(0, consumer_hb("c", 0, None), &t, &cfg).unwrap();
    g.classic_leave("k", None).unwrap();
    assert_eq!(g.members.keys().collect::<Vec<_>>(), ["c"]);
    let c = g
        .heartbeat(1, consumer_hb("c", c.member_epoch, None), &t, &cfg)
        .unwrap();
    assert_eq!(c.assignment.as_ref().map(parts), Some(vec![0, 1, 2, 3]));
    assert!(matches!(
        g.classic_leave("k", None),
        Err(GroupError::UnknownMemberId(_))
    ));
}

#[test]
fn a_classic_member_expires_after_its_own_session_timeout() {
    let (t, cfg) = (topics(), GroupConfig::default());
    let mut g = ConsumerGroup::new("g");
    g.classic_join(0, classic_join("k", &[]), &t, &cfg).unwrap();
    assert_eq!(
        g.next_deadline(),
        Some(10_000),
        "its JoinGroup session, not the group's"
    );
    assert!(g.tick(9_999).is_empty());
    assert_eq!(g.tick(10_000), vec!["k".to_string()]);
    assert!(g.is_empty());
}

#[test]
fn a_classic_member_survives_a_snapshot_round_trip() {
    let (t, cfg) = (topics(), GroupConfig::default());
    let mut g = ConsumerGroup::new("g");
    let j = g.classic_join(0, classic_join("k", &[]), &t, &cfg).unwrap();
    g.heartbeat(0, consumer_hb("c", 0, None), &t, &cfg).unwrap();
    let restored = ConsumerGroup::restore("g", g.snapshot(), 100, 45_000).unwrap();
    assert_eq!(restored.members, g.members);
    let k = &restored.members["k"];
    assert_eq!(
        k.classic.as_ref().map(|c| c.session_timeout_ms),
        Some(10_000)
    );
    assert_eq!(k.epoch, j.generation);
    assert_eq!(restored.next_deadline(), Some(100 + 10_000));
}

#[test]
fn a_classic_member_commits_with_any_version_and_its_generation() {
    let (t, cfg) = (topics(), GroupConfig::default());
    let mut g = ConsumerGroup::new("g");
    let j = g.classic_join(0, classic_join("k", &[]), &t, &cfg).unwrap();
    assert_eq!(g.validate_offset_commit("k", j.generation, 8), Ok(()));
    assert!(matches!(
        g.validate_offset_commit("k", j.generation + 1, 8),
        Err(GroupError::IllegalGeneration(_))
    ));
    // A consumer-protocol member still needs v9.
    let c = g.heartbeat(1, consumer_hb("c", 0, None), &t, &cfg).unwrap();
    assert!(matches!(
        g.validate_offset_commit("c", c.member_epoch, 8),
        Err(GroupError::UnsupportedVersion(_))
    ));
}

fn import(member: &str, assigned: &[i32]) -> crate::ClassicImport {
    crate::ClassicImport {
        join: classic_join(member, &[]),
        assigned: assigned.iter().map(|p| ("t".to_string(), *p)).collect(),
    }
}

#[test]
fn an_upgraded_classic_group_keeps_its_assignment_until_a_consumer_member_joins() {
    let (t, cfg) = (topics(), GroupConfig::default());
    // Partition 1 is claimed twice and 9 does not exist: neither is kept twice or at all.
    let members = vec![import("a", &[0, 1]), import("b", &[1, 2, 3, 9])];
    let mut g = ConsumerGroup::from_classic("g", 5, members, &t, 0);
    assert_eq!((g.epoch, g.assignment_epoch), (5, 5));
    assert_eq!(parts(&g.members["a"].assigned), vec![0, 1]);
    assert_eq!(parts(&g.members["b"].assigned), vec![2, 3]);
    assert!(g.only_classic_members());
    assert!(g.take_dirty(), "the new group is persisted");
    // At their generation nothing changes for the classic members.
    assert_eq!(g.classic_heartbeat(1, "a", None, 5, &t, &cfg), Ok(()));
    assert_eq!(
        g.classic_sync(1, "b", None, 5).map(|a| parts(&a)),
        Ok(vec![2, 3])
    );
    // A consumer-protocol member joins: the epoch moves and the classic members rejoin.
    let c = g.heartbeat(2, consumer_hb("c", 0, None), &t, &cfg).unwrap();
    assert_eq!(c.member_epoch, 6);
    assert!(!g.only_classic_members());
    assert_eq!(
        g.classic_heartbeat(3, "a", None, 5, &t, &cfg),
        Err(GroupError::RebalanceInProgress)
    );
    // Sessions carried over: a silent classic member is fenced after its timeout.
    let fenced = g.tick(20_000);
    assert!(fenced.contains(&"a".to_string()) && fenced.contains(&"b".to_string()));
}
