use super::*;
use crate::assignment::{self, Assignment, TopicId};

fn topic(n: u8) -> TopicId {
    uuid::Uuid::from_bytes([n; 16])
}

fn owners(out: &BTreeMap<String, Assignment>) -> BTreeMap<(TopicId, i32), String> {
    let mut seen = BTreeMap::new();
    for (m, a) in out {
        for tp in assignment::partitions(a) {
            assert!(
                seen.insert(tp, m.clone()).is_none(),
                "{tp:?} assigned twice"
            );
        }
    }
    seen
}

#[test]
fn uniform_splits_evenly_and_keeps_what_it_can() {
    let (a, b) = (topic(1), topic(2));
    let topics = BTreeMap::from([(a, 4), (b, 3)]);
    let subs: BTreeSet<TopicId> = [a, b].into();
    let members: BTreeMap<String, BTreeSet<TopicId>> = [
        ("m1".to_string(), subs.clone()),
        ("m2".to_string(), subs.clone()),
    ]
    .into();
    let first = Assignor::Uniform.assign(AssignmentSpec {
        members: &members,
        topics: &topics,
        current: &BTreeMap::new(),
    });
    assert_eq!(owners(&first).len(), 7);
    let counts: Vec<usize> = first.values().map(assignment::count).collect();
    assert_eq!(counts, vec![4, 3]);
    // A third member takes partitions only from the others' surplus.
    let mut members3 = members.clone();
    members3.insert("m3".into(), subs);
    let second = Assignor::Uniform.assign(AssignmentSpec {
        members: &members3,
        topics: &topics,
        current: &first,
    });
    assert_eq!(owners(&second).len(), 7);
    for m in ["m1", "m2"] {
        let before = &first[m];
        let after = &second[m];
        assert!(assignment::partitions(after).all(|(t, p)| assignment::contains(before, t, p)));
    }
    let mut counts: Vec<usize> = second.values().map(assignment::count).collect();
    counts.sort();
    assert_eq!(counts, vec![2, 2, 3]);
}

#[test]
fn uniform_respects_different_subscriptions() {
    let (a, b) = (topic(1), topic(2));
    let topics = BTreeMap::from([(a, 6), (b, 2)]);
    let members: BTreeMap<String, BTreeSet<TopicId>> = [
        ("m1".to_string(), [a].into()),
        ("m2".to_string(), [a, b].into()),
    ]
    .into();
    let out = Assignor::Uniform.assign(AssignmentSpec {
        members: &members,
        topics: &topics,
        current: &BTreeMap::new(),
    });
    let seen = owners(&out);
    assert_eq!(seen.len(), 8);
    assert!(out["m1"].keys().all(|t| *t == a));
    assert_eq!(assignment::count(&out["m1"]), 4);
    assert_eq!(assignment::count(&out["m2"]), 4);
}

#[test]
fn range_gives_contiguous_ranges_per_topic() {
    let (a, b) = (topic(1), topic(2));
    let topics = BTreeMap::from([(a, 5), (b, 5)]);
    let subs: BTreeSet<TopicId> = [a, b].into();
    let members: BTreeMap<String, BTreeSet<TopicId>> =
        [("m1".to_string(), subs.clone()), ("m2".to_string(), subs)].into();
    let out = Assignor::Range.assign(AssignmentSpec {
        members: &members,
        topics: &topics,
        current: &BTreeMap::new(),
    });
    owners(&out);
    let expect: BTreeSet<i32> = [0, 1, 2].into();
    assert_eq!(out["m1"][&a], expect);
    assert_eq!(out["m1"][&b], expect);
    assert_eq!(out["m2"][&a], [3, 4].into());
}

#[test]
fn assignors_parse_short_and_kafka_class_names() {
    assert_eq!(Assignor::parse("uniform"), Some(Assignor::Uniform));
    assert_eq!(
        Assignor::parse("org.apache.kafka.coordinator.group.assignor.RangeAssignor"),
        Some(Assignor::Range)
    );
    assert_eq!(Assignor::parse("sticky"), None);
}
