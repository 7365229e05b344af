use super::*;
use std::collections::BTreeMap;

const NOT_NEEDED: i16 = 84;
const PREFERRED_NOT_AVAILABLE: i16 = 80;
const ELIGIBLE_NOT_AVAILABLE: i16 = 83;
const UNKNOWN: i16 = 3;

fn topic_id() -> Uuid {
    Uuid::from_u128(7)
}

/// Brokers 1..=3, topic `t` with partitions [1,2,3] and [2,3,1], every replica in sync and
/// each partition led by its preferred replica.
fn image() -> MetadataImage {
    let mut img = MetadataImage::default();
    for id in 1..=3 {
        img.apply(MetadataRecord::BrokerRegistered {
            id,
            epoch: id as i64,
            incarnation: Uuid::new_v4(),
            endpoints: vec![],
            rack: None,
        });
    }
    img.apply(MetadataRecord::TopicCreated {
        name: "t".into(),
        id: topic_id(),
        replicas: vec![vec![1, 2, 3], vec![2, 3, 1]],
        configs: BTreeMap::new(),
    });
    img
}

/// Moves partition `p`'s leadership to `leader` with ISR `isr`.
fn set(img: &mut MetadataImage, p: i32, leader: i32, isr: Vec<i32>) {
    let l = img.topic("t").unwrap().leadership(p as usize).unwrap();
    img.apply(MetadataRecord::PartitionChanged {
        id: topic_id(),
        partition: p,
        leader,
        leader_epoch: l.leader_epoch + 1,
        isr,
        partition_epoch: l.partition_epoch + 1,
        replicas: None,
        adding: vec![],
        removing: vec![],
    });
}

fn named(parts: &[(&str, i32)]) -> Vec<(String, i32)> {
    parts.iter().map(|(t, p)| (t.to_string(), *p)).collect()
}

fn codes(results: &[ElectionResult]) -> Vec<(i32, i16)> {
    results.iter().map(|r| (r.partition, r.code)).collect()
}

#[test]
fn a_preferred_election_moves_leadership_back_and_a_second_one_is_not_needed() {
    let mut img = image();
    set(&mut img, 0, 2, vec![1, 2, 3]);
    let ask = named(&[("t", 0)]);
    let (records, results) = elect_leaders(&img, ElectionType::Preferred, Some(&ask)).unwrap();
    assert_eq!(codes(&results), vec![(0, 0)]);
    assert!(matches!(
        &records[..],
        [MetadataRecord::PartitionChanged {
            leader: 1,
            partition: 0,
            ..
        }]
    ));
    for r in records {
        img.apply(r);
    }
    assert_eq!(img.topic("t").unwrap().leader(0), 1);
    let (records, results) = elect_leaders(&img, ElectionType::Preferred, Some(&ask)).unwrap();
    assert!(records.is_empty());
    assert_eq!(codes(&results), vec![(0, NOT_NEEDED)]);
}

#[test]
fn a_preferred_replica_out_of_the_isr_or_fenced_is_not_available() {
    let mut img = image();
    set(&mut img, 0, 3, vec![2, 3]); // preferred 1 out of sync
    set(&mut img, 1, 3, vec![2, 3, 1]); // preferred 2 fenced
    img.apply(MetadataRecord::BrokerFenced { id: 2, epoch: 2 });
    let ask = named(&[("t", 0), ("t", 1)]);
    let (records, results) = elect_leaders(&img, ElectionType::Preferred, Some(&ask)).unwrap();
    assert!(records.is_empty());
    assert_eq!(
        codes(&results),
        vec![(0, PREFERRED_NOT_AVAILABLE), (1, PREFERRED_NOT_AVAILABLE)]
    );
}

#[test]
fn unknown_topics_and_partitions_are_answered_as_such() {
    let img = image();
    let ask = named(&[("nope", 0), ("t", 2), ("t", -1)]);
    let (_, results) = elect_leaders(&img, ElectionType::Preferred, Some(&ask)).unwrap();
    assert_eq!(
        codes(&results),
        vec![(0, UNKNOWN), (2, UNKNOWN), (-1, UNKNOWN)]
    );
    assert!(results.iter().all(|r| r.message.is_some()));
}

#[test]
fn all_partitions_answers_only_the_ones_that_needed_an_election() {
    let mut img = image();
    set(&mut img, 1, 3, vec![2, 3, 1]);
    let (records, results) = elect_leaders(&img, ElectionType::Preferred, None).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(codes(&results), vec![(1, 0)]);
    assert_eq!(results[0].topic, "t");
}

#[test]
fn an_unclean_election_gives_a_leaderless_partition_a_live_out_of_sync_replica() {
    let mut img = image();
    // Broker 1 was the last in sync and is gone; 2 is live but out of sync.
    set(&mut img, 0, -1, vec![1]);
    img.apply(MetadataRecord::BrokerFenced { id: 1, epoch: 1 });
    let ask = named(&[("t", 0), ("t", 1)]);
    let (_, preferred) = elect_leaders(&img, ElectionType::Preferred, Some(&ask)).unwrap();
    assert_eq!(
        preferred[0].code, PREFERRED_NOT_AVAILABLE,
        "a clean election cannot"
    );
    let (records, results) = elect_leaders(&img, ElectionType::Unclean, Some(&ask)).unwrap();
    assert_eq!(codes(&results), vec![(0, 0), (1, NOT_NEEDED)]);
    assert!(matches!(
        &records[..],
        [MetadataRecord::PartitionChanged { leader: 2, isr, .. }] if *isr == vec![2]
    ));
}

#[test]
fn an_unclean_election_with_no_live_replica_has_no_eligible_leader() {
    let mut img = image();
    set(&mut img, 0, -1, vec![1]);
    for id in 1..=3 {
        img.apply(MetadataRecord::BrokerFenced {
            id,
            epoch: id as i64,
        });
    }
    let ask = named(&[("t", 0)]);
    let (records, results) = elect_leaders(&img, ElectionType::Unclean, Some(&ask)).unwrap();
    assert!(records.is_empty());
    assert_eq!(codes(&results), vec![(0, ELIGIBLE_NOT_AVAILABLE)]);
}

#[test]
fn a_rebalance_moves_leadership_only_to_a_preferred_replica_that_is_live_and_in_sync() {
    let mut img = image();
    set(&mut img, 0, 2, vec![1, 2, 3]); // preferred 1 in sync: moves back
    set(&mut img, 1, 3, vec![3, 1]); // preferred 2 out of sync: stays
    assert_eq!(imbalance_count(&img), 2);
    let (records, incomplete) = rebalance(&img);
    assert!(!incomplete);
    assert_eq!(records.len(), 1);
    for r in records {
        img.apply(r);
    }
    let t = img.topic("t").unwrap();
    assert_eq!((t.leader(0), t.leader(1)), (1, 3));
    assert_eq!(imbalance_count(&img), 1);
    assert!(rebalance(&img).0.is_empty(), "nothing more to do");
}

#[test]
fn an_offline_partition_counts_as_imbalanced() {
    let mut img = image();
    assert_eq!(imbalance_count(&img), 0);
    set(&mut img, 0, -1, vec![1]);
    assert_eq!(imbalance_count(&img), 1);
}
