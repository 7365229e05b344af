//! The coordinator's edge with real `__consumer_offsets` logs in temporary directories:
//! only a shard led here is served, writes wait for the in-sync replicas, failed writes
//! leave nothing behind, and leadership changes load and unload a shard's groups.

use super::ownership::{Job, State};
use super::*;
use crate::group::offsets::CommitRequest;
use crate::replication::role::{AcksAllWait, Following, Leading, Role};
use fjord_replication::{LeaderConfig, LeaderState};

fn coordinator(commit_timeout_ms: u64) -> Arc<GroupCoordinator> {
    let config = crate::config::BrokerConfig {
        offsets_commit_timeout_ms: commit_timeout_ms,
        ..Default::default()
    };
    GroupCoordinator::new(&config)
}

fn partition(dir: &std::path::Path, index: i32) -> Arc<Partition> {
    let log = fjord_storage::Log::open(dir, fjord_storage::LogConfig::default()).unwrap();
    Arc::new(Partition::new(
        OFFSETS_TOPIC.into(),
        uuid::Uuid::nil(),
        index,
        log,
    ))
}

/// Makes `p`'s shard served here at `epoch`, as a finished load would.
fn activate(c: &GroupCoordinator, p: &Arc<Partition>, epoch: i32) {
    let mut owner = c.shard(p.index).owner.lock();
    owner.generation += 1;
    owner.state = State::Active {
        leader_epoch: epoch,
        partition: p.clone(),
    };
}

/// `p` led here at `epoch` with replicas 0 (this broker) and 1, both in sync.
fn lead_with_a_follower(p: &Partition, epoch: i32) {
    let state = LeaderState::new(
        LeaderConfig {
            replica_lag_time_max_ms: 30_000,
        },
        0,
        epoch,
        0,
        &[0, 1],
        &[0, 1],
        p.log.log_end_offset(),
        p.log.log_end_offset(),
        0,
    );
    *p.role.lock() = Role::Leader(Box::new(Leading::new(state, 1)));
}

fn commit(group: &str, offset: i64) -> CommitRequest {
    CommitRequest {
        group_id: group.into(),
        generation: -1,
        retention_time_ms: -1,
        offsets: vec![("t".into(), 0, offset, -1, None)],
        ..CommitRequest::default()
    }
}

fn committed(c: &GroupCoordinator, group: &str) -> Result<Vec<i64>, ResponseError> {
    c.read(group, |m| {
        m.fetch_offsets(group, None)
            .iter()
            .map(|f| f.offset)
            .collect()
    })
}

#[tokio::test]
async fn a_group_whose_partition_is_not_led_here_gets_not_coordinator() {
    let c = coordinator(5_000);
    let result = c.run("g", |m, now| m.commit(now, commit("g", 42))).await;
    assert_eq!(result.err(), Some(ResponseError::NotCoordinator));
    assert_eq!(committed(&c, "g"), Err(ResponseError::NotCoordinator));
    let mut owner = c.shard(c.partition_for("g")).owner.lock();
    owner.state = State::Loading { leader_epoch: 3 };
    drop(owner);
    assert_eq!(
        committed(&c, "g"),
        Err(ResponseError::CoordinatorLoadInProgress)
    );
}

#[tokio::test]
async fn groups_live_in_the_shard_of_their_offsets_partition() {
    let c = coordinator(5_000);
    let (a, b) = ("alpha", "beta");
    let (ia, ib) = (c.partition_for(a), c.partition_for(b));
    assert_ne!(ia, ib);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for (dir, index) in dirs.iter().zip([ia, ib]) {
        activate(&c, &partition(dir.path(), index), 0);
    }
    for g in [a, b] {
        let r = c.run(g, |m, now| m.commit(now, commit(g, 1))).await;
        assert!(r.is_ok(), "{r:?}");
    }
    assert!(c.shard(ia).machine.lock().group(a).is_some());
    assert!(c.shard(ia).machine.lock().group(b).is_none());
    assert!(c.shard(ib).machine.lock().group(b).is_some());
    let mut listed: Vec<String> = c.list(&[]).into_iter().map(|l| l.group_id).collect();
    listed.sort();
    assert_eq!(listed, vec![a.to_string(), b.to_string()]);
}

#[tokio::test]
async fn a_commit_is_answered_only_once_the_in_sync_replicas_have_it() {
    let c = coordinator(5_000);
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), c.partition_for("g"));
    lead_with_a_follower(&p, 7);
    activate(&c, &p, 7);
    let (result, pending) = c
        .apply(p.index, |m, now| m.commit(now, commit("g", 42)))
        .unwrap();
    assert!(result.iter().all(|(_, _, e)| e.is_none()), "{result:?}");
    assert!(
        matches!(pending.wait, Some((_, AcksAllWait::Later(..)))),
        "the follower does not have the record yet"
    );
    let end = p.log.log_end_offset();
    assert_eq!(end, 1, "one batch written");
    let (hw, _) = p.follower_fetched(1, end, 1).unwrap();
    assert_eq!(hw, end);
    assert_eq!(pending.finish(&c).await, Ok(()));
    assert_eq!(committed(&c, "g"), Ok(vec![42]));
}

#[tokio::test]
async fn a_commit_the_replicas_do_not_take_in_time_fails_and_is_undone() {
    let c = coordinator(100);
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), c.partition_for("g"));
    lead_with_a_follower(&p, 7);
    activate(&c, &p, 7);
    let result = c.run("g", |m, now| m.commit(now, commit("g", 42))).await;
    assert_eq!(result.err(), Some(ResponseError::CoordinatorNotAvailable));
    assert_eq!(
        committed(&c, "g"),
        Ok(vec![]),
        "nothing committed in memory"
    );
}

#[tokio::test]
async fn a_broker_that_became_follower_neither_writes_nor_keeps_the_commit() {
    let c = coordinator(5_000);
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), c.partition_for("g"));
    activate(&c, &p, 7);
    *p.role.lock() = Role::Follower(Following {
        leader: 1,
        leader_epoch: 8,
        high_watermark: 0,
        truncated: false,
    });
    let result = c.run("g", |m, now| m.commit(now, commit("g", 42))).await;
    assert_eq!(result.err(), Some(ResponseError::NotCoordinator));
    assert_eq!(p.log.log_end_offset(), 0, "nothing appended");
    assert_eq!(committed(&c, "g"), Ok(vec![]));
}

#[tokio::test]
async fn leadership_moves_unload_the_groups_and_a_new_leader_loads_them_from_the_log() {
    let c = coordinator(5_000);
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), c.partition_for("g"));
    activate(&c, &p, 0);
    for offset in [5, 9] {
        let r = c
            .run("g", |m, now| m.commit(now, commit("g", offset)))
            .await;
        assert!(r.is_ok(), "{r:?}");
    }
    let index = p.index;
    let generation = {
        let mut owner = c.shard(index).owner.lock();
        owner.generation += 1;
        owner.state = State::NotCoordinator;
        owner.generation
    };
    c.perform(Job::Unload { index, generation });
    assert_eq!(committed(&c, "g"), Err(ResponseError::NotCoordinator));
    assert!(
        c.shard(index).machine.lock().group("g").is_none(),
        "groups dropped"
    );
    assert!(c.list(&[]).is_empty());
    let generation = {
        let mut owner = c.shard(index).owner.lock();
        owner.generation += 1;
        owner.state = State::Loading { leader_epoch: 1 };
        owner.generation
    };
    // A job queued before a newer change does nothing.
    c.perform(Job::Unload {
        index,
        generation: generation - 1,
    });
    assert_eq!(
        committed(&c, "g"),
        Err(ResponseError::CoordinatorLoadInProgress)
    );
    c.perform(Job::Load {
        index,
        generation,
        partition: p.clone(),
    });
    assert_eq!(
        committed(&c, "g"),
        Ok(vec![9]),
        "the last commit, from the log"
    );
}
