use super::*;
use crate::cluster::BrokerInfo;

fn broker(id: i32, fenced: bool) -> BrokerInfo {
    BrokerInfo {
        id,
        rack: None,
        fenced,
        in_controlled_shutdown: false,
        epoch: 1,
    }
}

fn cluster() -> ClusterView {
    ClusterView::from_brokers([broker(1, false), broker(2, false), broker(3, true)])
}

const DEFAULTS: TopicDefaults = TopicDefaults {
    num_partitions: 2,
    replication_factor: 2,
};

fn manual(assignments: &[(i32, &[i32])]) -> NewTopic {
    NewTopic {
        num_partitions: -1,
        replication_factor: -1,
        assignments: assignments.iter().map(|(i, b)| (*i, b.to_vec())).collect(),
    }
}

fn err_of(topic: NewTopic) -> (i16, String) {
    let e = create_topic(&cluster(), &topic, &DEFAULTS, 0, &Load::new()).unwrap_err();
    (e.code(), e.to_string())
}

#[test]
fn defaults_apply_and_the_isr_is_the_active_replicas() {
    let topic = NewTopic {
        num_partitions: -1,
        replication_factor: 3,
        assignments: vec![],
    };
    let parts = create_topic(&cluster(), &topic, &DEFAULTS, 0, &Load::new()).unwrap();
    assert_eq!(parts.len(), 2);
    for p in parts {
        assert_eq!(p.replicas.len(), 3);
        assert!(!p.isr.contains(&3), "fenced broker 3 in ISR {p:?}");
        assert_eq!(p.leader, p.isr[0]);
    }
}

#[test]
fn create_topic_prefixes_the_placer_error_like_kafka() {
    let topic = NewTopic {
        num_partitions: 1,
        replication_factor: 4,
        assignments: vec![],
    };
    assert_eq!(
        err_of(topic),
        (
            38,
            "Unable to replicate the partition 4 time(s): The target replication factor of 4 \
             cannot be reached because only 3 broker(s) are registered."
                .to_string()
        )
    );
}

#[test]
fn a_zero_factor_or_partition_count_is_refused() {
    let rf0 = NewTopic {
        num_partitions: 1,
        replication_factor: 0,
        assignments: vec![],
    };
    assert_eq!(err_of(rf0).0, 38);
    let p0 = NewTopic {
        num_partitions: 0,
        replication_factor: 1,
        assignments: vec![],
    };
    assert_eq!(err_of(p0).0, 37);
}

#[test]
fn a_manual_assignment_naming_a_broker_twice_is_invalid_replica_assignment() {
    assert_eq!(
        err_of(manual(&[(0, &[1, 2, 1])])),
        (
            39,
            "The manual partition assignment includes the broker 1 more than once.".to_string()
        )
    );
}

#[test]
fn a_manual_assignment_naming_an_unknown_broker_is_invalid_replica_assignment() {
    assert_eq!(
        err_of(manual(&[(0, &[1, 9])])),
        (
            39,
            "The manual partition assignment includes broker 9, but no such broker is registered."
                .to_string()
        )
    );
}

#[test]
fn manual_assignments_with_different_factors_are_invalid_replica_assignment() {
    assert_eq!(
        err_of(manual(&[(0, &[1, 2]), (1, &[1])])),
        (
            39,
            "The manual partition assignment includes a partition with 1 replica(s), but this is \
             not consistent with previous partitions, which have 2 replica(s)."
                .to_string()
        )
    );
}

#[test]
fn manual_assignments_must_be_unique_consecutive_and_not_all_fenced() {
    assert_eq!(err_of(manual(&[(0, &[1]), (0, &[2])])).0, 39);
    assert_eq!(
        err_of(manual(&[(0, &[1]), (2, &[2])])).1,
        "partitions should be a consecutive 0-based integer sequence"
    );
    assert_eq!(
        err_of(manual(&[(0, &[3])])).1,
        "All brokers specified in the manual partition assignment for partition 0 are fenced or \
         in controlled shutdown."
    );
    assert_eq!(err_of(manual(&[(0, &[])])).0, 39);
}

#[test]
fn manual_assignments_with_a_factor_or_count_are_invalid_request() {
    let mut topic = manual(&[(0, &[1])]);
    topic.replication_factor = 1;
    assert_eq!(err_of(topic).0, 42);
    let mut topic = manual(&[(0, &[1])]);
    topic.num_partitions = 1;
    assert_eq!(err_of(topic).0, 42);
}

#[test]
fn manual_assignments_keep_their_order_and_lead_with_the_first_active_replica() {
    let parts = create_topic(
        &cluster(),
        &manual(&[(1, &[2, 1]), (0, &[3, 1])]),
        &DEFAULTS,
        0,
        &Load::new(),
    )
    .unwrap();
    assert_eq!(parts[0].replicas, vec![3, 1]);
    assert_eq!(parts[0].leader, 1);
    assert_eq!(parts[1].leader, 2);
}

#[test]
fn create_partitions_must_increase_the_count() {
    let existing = vec![vec![1, 2]];
    let e = create_partitions(&cluster(), "t", &existing, 1, None, 0, &Load::new()).unwrap_err();
    assert_eq!(
        (e.code(), e.to_string()),
        (37, "Topic already has 1 partition(s).".into())
    );
    let existing = vec![vec![1, 2], vec![2, 1]];
    let e = create_partitions(&cluster(), "t", &existing, 1, None, 0, &Load::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "The topic t currently has 2 partition(s); 1 would not be an increase."
    );
}

#[test]
fn create_partitions_checks_the_assignment_count_and_factor() {
    let existing = vec![vec![1, 2]];
    let two = [vec![1, 2], vec![2, 1]];
    let e =
        create_partitions(&cluster(), "t", &existing, 2, Some(&two), 0, &Load::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Attempted to add 1 additional partition(s), but only 2 assignment(s) were specified."
    );
    let e = create_partitions(
        &cluster(),
        "t",
        &existing,
        2,
        Some(&[vec![1]]),
        0,
        &Load::new(),
    )
    .unwrap_err();
    assert_eq!(e.code(), 39);
}

#[test]
fn create_partitions_places_new_ones_with_the_topic_factor_on_the_emptier_brokers() {
    let c = ClusterView::from_brokers((1..=4).map(|id| broker(id, false)));
    let existing = vec![vec![1, 2], vec![2, 1]];
    let load = Load::from_assignments(&existing);
    let parts = create_partitions(&c, "t", &existing, 3, None, 0, &load).unwrap();
    assert_eq!(parts.len(), 1);
    let mut replicas = parts[0].replicas.clone();
    replicas.sort_unstable();
    assert_eq!(replicas, vec![3, 4]);
}
