use super::*;
use crate::cluster::BrokerInfo;

/// Brokers 1..=4; those in `fenced` are fenced.
fn cluster(fenced: &[i32]) -> ClusterView {
    ClusterView::from_brokers((1..=4).map(|id| BrokerInfo {
        id,
        rack: None,
        fenced: fenced.contains(&id),
        in_controlled_shutdown: false,
        epoch: 1,
    }))
}

fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> Partition {
    Partition {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 5,
        partition_epoch: 9,
        leader_recovery_state: LeaderRecoveryState::Recovered,
        adding_replicas: vec![],
        removing_replicas: vec![],
    }
}

#[test]
fn fencing_the_leader_moves_leadership_to_the_next_isr_member_in_replica_order() {
    let p = partition(&[1, 2, 3], &[1, 3, 2], 1);
    let change = remove_broker(&p, &cluster(&[1]), 1, false).unwrap();
    assert_eq!(change.leader, Some(2));
    assert_eq!(change.isr, Some(vec![3, 2]));
    let next = p.apply(&change);
    assert_eq!((next.leader_epoch, next.partition_epoch), (6, 10));
}

#[test]
fn fencing_a_follower_shrinks_the_isr_without_a_leader_epoch_bump() {
    let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
    let change = remove_broker(&p, &cluster(&[2]), 2, false).unwrap();
    assert_eq!(change.leader, None);
    let next = p.apply(&change);
    assert_eq!((next.isr.clone(), next.leader_epoch), (vec![1, 3], 5));
}

#[test]
fn the_last_isr_member_stays_in_the_isr_and_the_partition_goes_offline() {
    let p = partition(&[1, 2], &[1], 1);
    let change = remove_broker(&p, &cluster(&[1]), 1, false).unwrap();
    assert_eq!(change.leader, Some(NO_LEADER));
    assert_eq!(change.isr, None, "the ISR must keep its last member");
    let next = p.apply(&change);
    assert_eq!(
        (next.leader, next.leader_epoch, next.partition_epoch),
        (NO_LEADER, 6, 10)
    );
}

#[test]
fn without_unclean_election_an_out_of_sync_live_replica_never_leads() {
    let p = partition(&[1, 2], &[1], 1);
    let offline = p.apply(&remove_broker(&p, &cluster(&[1]), 1, false).unwrap());
    // Broker 2 is alive but was never in sync: nothing to elect.
    assert_eq!(on_broker_unfenced(&offline, &cluster(&[1]), 2, false), None);
}

#[test]
fn unclean_election_picks_a_live_out_of_sync_replica_and_marks_it_recovering() {
    let p = partition(&[1, 2], &[1], 1);
    let change = remove_broker(&p, &cluster(&[1]), 1, true).unwrap();
    assert_eq!(change.leader, Some(2));
    assert_eq!(change.isr, Some(vec![2]));
    assert_eq!(
        change.leader_recovery_state,
        Some(LeaderRecoveryState::Recovering)
    );
}

#[test]
fn the_last_isr_member_leads_again_when_it_is_unfenced() {
    let p = partition(&[1, 2], &[1], 1);
    let offline = p.apply(&remove_broker(&p, &cluster(&[1]), 1, false).unwrap());
    // The cluster view may not show broker 1 unfenced yet: it counts as active.
    let change = on_broker_unfenced(&offline, &cluster(&[1]), 1, false).unwrap();
    assert_eq!(change.leader, Some(1));
    let back = offline.apply(&change);
    assert_eq!((back.leader_epoch, back.partition_epoch), (7, 11));
}

#[test]
fn unfencing_leaves_partitions_with_a_leader_alone() {
    let p = partition(&[1, 2], &[1, 2], 2);
    assert_eq!(on_broker_unfenced(&p, &cluster(&[]), 1, false), None);
}

#[test]
fn removing_a_broker_outside_the_isr_changes_nothing() {
    let p = partition(&[1, 2, 3], &[1, 2], 1);
    assert_eq!(remove_broker(&p, &cluster(&[3]), 3, false), None);
}

#[test]
fn preferred_election_moves_leadership_back_to_the_preferred_replica() {
    let p = partition(&[1, 2, 3], &[1, 2, 3], 2);
    let change = elect_leaders(&p, &cluster(&[]), ElectionType::Preferred).unwrap();
    assert_eq!(change.leader, Some(1));
}

#[test]
fn preferred_election_when_the_preferred_replica_leads_is_election_not_needed() {
    let p = partition(&[1, 2], &[1, 2], 1);
    let e = elect_leaders(&p, &cluster(&[]), ElectionType::Preferred).unwrap_err();
    assert_eq!(e.code(), 84);
}

#[test]
fn preferred_election_with_the_preferred_replica_out_of_sync_is_preferred_leader_not_available() {
    let p = partition(&[1, 2], &[2], 2);
    let e = elect_leaders(&p, &cluster(&[]), ElectionType::Preferred).unwrap_err();
    assert_eq!(e.code(), 80);
    let p = partition(&[1, 2], &[1, 2], 2);
    let e = elect_leaders(&p, &cluster(&[1]), ElectionType::Preferred).unwrap_err();
    assert_eq!(e.code(), 80, "a fenced preferred replica is not available");
}

#[test]
fn unclean_election_of_a_partition_with_a_leader_is_election_not_needed() {
    let p = partition(&[1, 2], &[1, 2], 1);
    let e = elect_leaders(&p, &cluster(&[]), ElectionType::Unclean).unwrap_err();
    assert_eq!(e.code(), 84);
}

#[test]
fn unclean_election_without_a_live_replica_is_eligible_leaders_not_available() {
    let p = partition(&[1, 2], &[1], NO_LEADER);
    let e = elect_leaders(&p, &cluster(&[1, 2]), ElectionType::Unclean).unwrap_err();
    assert_eq!(e.code(), 83);
    let change = elect_leaders(&p, &cluster(&[1]), ElectionType::Unclean).unwrap();
    assert_eq!((change.leader, change.isr), (Some(2), Some(vec![2])));
}

#[test]
fn unknown_election_types_are_invalid_request() {
    assert_eq!(ElectionType::from_value(1), Ok(ElectionType::Unclean));
    assert_eq!(ElectionType::from_value(2).unwrap_err().code(), 42);
}

#[test]
fn rebalance_moves_leadership_back_to_in_sync_preferred_replicas_only() {
    let parts = [
        partition(&[1, 2], &[1, 2], 2), // preferred 1 in sync: moves
        partition(&[1, 2], &[2], 2),    // preferred 1 out of sync: stays
        partition(&[3, 2], &[3, 2], 2), // preferred 3 fenced: stays
        partition(&[2, 1], &[1, 2], 2), // already preferred
    ];
    let (changes, more) = rebalance(&cluster(&[3]), parts.iter().enumerate(), 10);
    assert!(!more);
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].0, changes[0].1.leader), (0, Some(1)));
}

#[test]
fn rebalance_stops_at_the_limit_and_says_so() {
    let parts = [
        partition(&[1, 2], &[1, 2], 2),
        partition(&[1, 2], &[1, 2], 2),
    ];
    let (changes, more) = rebalance(&cluster(&[]), parts.iter().enumerate(), 1);
    assert_eq!(changes.len(), 1);
    assert!(more);
}

#[test]
fn offline_partitions_of_topics_that_allow_it_get_an_unclean_leader() {
    let parts = [
        ("clean", partition(&[1, 2], &[1], NO_LEADER)),
        ("unclean", partition(&[1, 2], &[1], NO_LEADER)),
        ("unclean", partition(&[1, 3], &[1], NO_LEADER)), // 3 fenced too: stays offline
    ];
    let cluster = cluster(&[1, 3]);
    let (changes, more) = elect_unclean_leaders(
        &cluster,
        parts.iter().map(|(k, p)| (*k, p)),
        |k| *k == "unclean",
        10,
    );
    assert!(!more);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].1.leader, Some(2));
    assert_eq!(
        changes[0].1.leader_recovery_state,
        Some(LeaderRecoveryState::Recovering)
    );
}
