use super::*;
use crate::alter_partition::{
    alter_partition, AlterPartitionOutcome, AlterPartitionRequest, IsrMember,
};
use crate::cluster::BrokerInfo;

fn cluster(fenced: &[i32]) -> ClusterView {
    ClusterView::from_brokers((1..=5).map(|id| BrokerInfo {
        id,
        rack: None,
        fenced: fenced.contains(&id),
        in_controlled_shutdown: false,
        epoch: 1,
    }))
}

/// The leader expands the ISR to `isr` (AlterPartition), as it does once a follower caught up.
fn expand(p: &Partition, isr: &[i32]) -> Partition {
    let request = AlterPartitionRequest {
        broker_id: p.leader,
        version: 3,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr
            .iter()
            .map(|&broker_id| IsrMember {
                broker_id,
                broker_epoch: -1,
            })
            .collect(),
        leader_recovery_state: 0,
    };
    match alter_partition(Some(p), &cluster(&[]), &request, false).unwrap() {
        AlterPartitionOutcome::Accepted { partition, .. } => partition,
        AlterPartitionOutcome::LeaderChanged { change, .. } => p.apply(&change),
    }
}

fn reassign(p: &Partition, target: Option<&[i32]>) -> Partition {
    let change = alter_reassignment(Some(p), &cluster(&[]), target, false)
        .unwrap()
        .expect("a change");
    p.apply(&change)
}

#[test]
fn a_move_adds_first_and_removes_once_the_new_replicas_are_in_sync() {
    let p = Partition::new(vec![1, 2, 3], vec![1, 2, 3]);
    let moving = reassign(&p, Some(&[4, 2, 3]));
    assert_eq!(moving.replicas, vec![4, 2, 3, 1]);
    assert_eq!(
        (
            moving.adding_replicas.clone(),
            moving.removing_replicas.clone()
        ),
        (vec![4], vec![1])
    );
    assert_eq!(
        moving.isr,
        vec![1, 2, 3],
        "the ISR waits for the new replica"
    );
    assert_eq!(
        (moving.leader, moving.leader_epoch),
        (1, 0),
        "growing moves no leadership"
    );
    let done = expand(&moving, &[1, 2, 3, 4]);
    assert_eq!(done.replicas, vec![4, 2, 3]);
    assert_eq!(done.isr, vec![2, 3, 4]);
    assert!(!done.is_reassigning());
    assert_eq!(
        done.leader, 4,
        "the removed leader hands over to the first in-sync target replica"
    );
    assert!(done.leader_epoch > moving.leader_epoch);
}

#[test]
fn shrinking_the_replication_factor_completes_at_once_and_fences_the_removed_replica() {
    let p = Partition::new(vec![1, 2, 3], vec![1, 2, 3]);
    let shrunk = reassign(&p, Some(&[1, 2]));
    assert_eq!(
        (shrunk.replicas.clone(), shrunk.isr.clone()),
        (vec![1, 2], vec![1, 2])
    );
    assert!(!shrunk.is_reassigning());
    assert_eq!(shrunk.leader, 1);
    assert_eq!(
        shrunk.leader_epoch, 1,
        "a removed replica bumps the leader epoch"
    );
}

#[test]
fn growing_the_replication_factor_keeps_the_leader_and_its_epoch() {
    let p = Partition::new(vec![1], vec![1]);
    let growing = reassign(&p, Some(&[1, 2, 3]));
    assert_eq!(growing.adding_replicas, vec![2, 3]);
    let half = expand(&growing, &[1, 2]);
    assert!(half.is_reassigning(), "3 is not in sync yet");
    let done = expand(&half, &[1, 2, 3]);
    assert_eq!(
        (done.replicas.clone(), done.isr.clone()),
        (vec![1, 2, 3], vec![1, 2, 3])
    );
    assert!(!done.is_reassigning());
    assert_eq!((done.leader, done.leader_epoch), (1, 0));
}

#[test]
fn cancelling_drops_the_adding_replicas_and_keeps_the_original_ones() {
    let p = Partition::new(vec![1, 2], vec![1, 2]);
    let moving = reassign(&p, Some(&[3, 4]));
    assert_eq!(moving.replicas, vec![3, 4, 1, 2]);
    let back = reassign(&moving, None);
    assert_eq!(
        (back.replicas.clone(), back.isr.clone()),
        (vec![1, 2], vec![1, 2])
    );
    assert!(!back.is_reassigning());
    assert_eq!(back.leader, 1);
}

#[test]
fn a_new_target_replaces_an_ongoing_reassignment() {
    let p = Partition::new(vec![1, 2], vec![1, 2]);
    let moving = reassign(&p, Some(&[3, 2]));
    let moving = expand(&moving, &[1, 2]);
    let again = reassign(&moving, Some(&[4, 2]));
    assert_eq!(again.replicas, vec![4, 2, 3, 1]);
    assert_eq!(
        (
            again.adding_replicas.clone(),
            again.removing_replicas.clone()
        ),
        (vec![4], vec![3, 1]),
        "3 leaves only when the new move completes"
    );
}

#[test]
fn refusals_carry_kafkas_codes() {
    let p = Partition::new(vec![1, 2], vec![1, 2]);
    let code = |target: Option<&[i32]>, p: Option<&Partition>| {
        alter_reassignment(p, &cluster(&[]), target, false)
            .unwrap_err()
            .code()
    };
    assert_eq!(code(None, Some(&p)), 85, "NO_REASSIGNMENT_IN_PROGRESS");
    assert_eq!(code(Some(&[1, 1]), Some(&p)), 39, "a broker twice");
    assert_eq!(code(Some(&[1, 9]), Some(&p)), 39, "an unregistered broker");
    assert_eq!(code(Some(&[]), Some(&p)), 39, "no replicas");
    assert_eq!(code(Some(&[1]), None), 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let fenced = alter_reassignment(Some(&p), &cluster(&[3]), Some(&[1, 3]), false);
    assert!(
        fenced.is_ok(),
        "a fenced but registered broker may be a target, as in Kafka"
    );
}

#[test]
fn the_same_assignment_changes_nothing() {
    let p = Partition::new(vec![1, 2], vec![1, 2]);
    assert_eq!(
        alter_reassignment(Some(&p), &cluster(&[]), Some(&[1, 2]), false),
        Ok(None)
    );
}
