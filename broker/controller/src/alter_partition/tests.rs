use super::*;
use crate::cluster::BrokerInfo;

/// Brokers 1..=3 at epoch 10 + id; broker 3 as given.
fn cluster(three_fenced: bool, three_shutting_down: bool) -> ClusterView {
    ClusterView::from_brokers((1..=3).map(|id| BrokerInfo {
        id,
        rack: None,
        fenced: id == 3 && three_fenced,
        in_controlled_shutdown: id == 3 && three_shutting_down,
        epoch: 10 + i64::from(id),
    }))
}

fn healthy() -> ClusterView {
    cluster(false, false)
}

/// Replicas 1,2,3; ISR 1,2; leader 1 at leader epoch 4, partition epoch 7.
fn partition() -> Partition {
    Partition {
        replicas: vec![1, 2, 3],
        isr: vec![1, 2],
        leader: 1,
        leader_epoch: 4,
        partition_epoch: 7,
        leader_recovery_state: LeaderRecoveryState::Recovered,
        adding_replicas: vec![],
        removing_replicas: vec![],
    }
}

fn request(isr: &[i32]) -> AlterPartitionRequest {
    AlterPartitionRequest {
        broker_id: 1,
        version: 3,
        leader_epoch: 4,
        partition_epoch: 7,
        new_isr: isr
            .iter()
            .map(|&b| IsrMember {
                broker_id: b,
                broker_epoch: 10 + i64::from(b),
            })
            .collect(),
        leader_recovery_state: 0,
    }
}

fn code(c: &ClusterView, r: &AlterPartitionRequest) -> i16 {
    alter_partition(Some(&partition()), c, r, false)
        .unwrap_err()
        .code()
}

#[test]
fn an_isr_expansion_from_the_leader_is_accepted_and_bumps_only_the_partition_epoch() {
    let out = alter_partition(Some(&partition()), &healthy(), &request(&[1, 2, 3]), false);
    let Ok(AlterPartitionOutcome::Accepted { change, partition }) = out else {
        panic!("{out:?}");
    };
    assert_eq!(change.and_then(|c| c.isr), Some(vec![1, 2, 3]));
    assert_eq!((partition.leader_epoch, partition.partition_epoch), (4, 8));
}

#[test]
fn an_unchanged_isr_is_accepted_without_a_record() {
    let out = alter_partition(Some(&partition()), &healthy(), &request(&[1, 2]), false);
    assert!(matches!(
        out,
        Ok(AlterPartitionOutcome::Accepted { change: None, .. })
    ));
}

#[test]
fn a_stale_leader_epoch_is_fenced_leader_epoch() {
    let mut r = request(&[1]);
    r.leader_epoch = 3;
    assert_eq!(code(&healthy(), &r), 74);
}

#[test]
fn a_stale_partition_epoch_is_invalid_update_version() {
    let mut r = request(&[1]);
    r.partition_epoch = 6;
    assert_eq!(code(&healthy(), &r), 95);
}

#[test]
fn epochs_ahead_of_the_controller_are_not_controller() {
    let mut r = request(&[1]);
    r.partition_epoch = 8;
    assert_eq!(code(&healthy(), &r), 41);
    let mut r = request(&[1]);
    r.leader_epoch = 5;
    assert_eq!(code(&healthy(), &r), 41);
}

#[test]
fn a_request_from_a_follower_is_invalid_request() {
    let mut r = request(&[1, 2]);
    r.broker_id = 2;
    assert_eq!(code(&healthy(), &r), 42);
}

#[test]
fn an_isr_without_the_leader_or_outside_the_replicas_is_invalid_request() {
    assert_eq!(code(&healthy(), &request(&[2])), 42);
    assert_eq!(code(&healthy(), &request(&[1, 4])), 42);
    assert_eq!(code(&healthy(), &request(&[1, 1])), 42);
}

#[test]
fn a_fenced_or_shutting_down_replica_in_the_new_isr_is_ineligible_replica() {
    assert_eq!(code(&cluster(true, false), &request(&[1, 2, 3])), 107);
    assert_eq!(code(&cluster(false, true), &request(&[1, 2, 3])), 107);
    let mut old = request(&[1, 2, 3]);
    old.version = 1;
    assert_eq!(code(&cluster(true, false), &old), 55);
}

#[test]
fn a_replica_from_a_previous_incarnation_is_ineligible_replica() {
    let mut r = request(&[1, 2, 3]);
    r.new_isr[2].broker_epoch = 5;
    let e = alter_partition(Some(&partition()), &healthy(), &r, false).unwrap_err();
    assert_eq!(e.code(), 107);
    assert!(e.to_string().contains("broker epoch mismatch"), "{e}");
}

#[test]
fn recovering_is_only_allowed_with_a_lone_leader_and_never_after_recovered() {
    let mut r = request(&[1]);
    r.leader_recovery_state = 1;
    assert_eq!(
        code(&healthy(), &r),
        42,
        "RECOVERED cannot go back to RECOVERING"
    );
    let mut recovering = partition();
    recovering.leader_recovery_state = LeaderRecoveryState::Recovering;
    recovering.isr = vec![1];
    let mut r = request(&[1, 2]);
    r.leader_recovery_state = 1;
    let e = alter_partition(Some(&recovering), &healthy(), &r, false).unwrap_err();
    assert_eq!(e.code(), 42);
    // The leader reports that it recovered: accepted, with the ISR expansion.
    let r = request(&[1, 2]);
    let out = alter_partition(Some(&recovering), &healthy(), &r, false).unwrap();
    let AlterPartitionOutcome::Accepted { partition, .. } = out else {
        panic!("{out:?}");
    };
    assert_eq!(
        partition.leader_recovery_state,
        LeaderRecoveryState::Recovered
    );
}

#[test]
fn an_unknown_partition_is_unknown_topic_or_partition() {
    let e = alter_partition(None, &healthy(), &request(&[1]), false).unwrap_err();
    assert_eq!(e.code(), 3);
}
