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

#[test]
fn range_keeps_ranges_when_a_member_joins() {
    let t = topic(1);
    let topics = BTreeMap::from([(t, 6)]);
    let subs: BTreeSet<TopicId> = [t].into();
    let two: BTreeMap<String, BTreeSet<TopicId>> = [
        ("m1".to_string(), subs.clone()),
        ("m2".to_string(), subs.clone()),
    ]
    .into();
    let first = Assignor::Range.assign(AssignmentSpec {
        members: &two,
        topics: &topics,
        current: &BTreeMap::new(),
    });
    assert_eq!(first["m1"][&t], [0, 1, 2].into());
    assert_eq!(first["m2"][&t], [3, 4, 5].into());
    let mut three = two.clone();
    three.insert("m0".into(), subs);
    let second = Assignor::Range.assign(AssignmentSpec {
        members: &three,
        topics: &topics,
        current: &first,
    });
    // Each old member keeps its two lowest; the newcomer gets what they gave up.
    assert_eq!(second["m1"][&t], [0, 1].into());
    assert_eq!(second["m2"][&t], [3, 4].into());
    assert_eq!(second["m0"][&t], [2, 5].into());
}

/// xorshift64*: reproducible by seed, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

struct Case {
    topics: BTreeMap<TopicId, i32>,
    members: BTreeMap<String, BTreeSet<TopicId>>,
}

fn random_case(rng: &mut Rng, same_counts: bool, homogeneous: bool) -> Case {
    let n_topics = 1 + rng.below(4) as u8;
    let shared = rng.below(13) as i32;
    let topics: BTreeMap<TopicId, i32> = (1..=n_topics)
        .map(|i| {
            (
                topic(i),
                if same_counts {
                    shared
                } else {
                    rng.below(13) as i32
                },
            )
        })
        .collect();
    let all: BTreeSet<TopicId> = topics.keys().copied().collect();
    let members = (0..1 + rng.below(7))
        .map(|i| {
            let subs = if homogeneous {
                all.clone()
            } else {
                all.iter().copied().filter(|_| rng.below(2) == 0).collect()
            };
            (format!("m{}", rng.below(10) * 10 + i), subs)
        })
        .collect();
    Case { topics, members }
}

/// Every partition of a subscribed topic goes to exactly one of its subscribers,
/// and per topic the subscribers' counts differ by at most one.
fn check_range(case: &Case, out: &BTreeMap<String, Assignment>, seed: u64) {
    let seen = owners(out);
    for (t, &n) in &case.topics {
        let subscribers: Vec<&String> = case
            .members
            .iter()
            .filter(|(_, s)| s.contains(t))
            .map(|(m, _)| m)
            .collect();
        for p in 0..n {
            let owner = seen.get(&(*t, p));
            if subscribers.is_empty() {
                assert!(
                    owner.is_none(),
                    "seed {seed}: unsubscribed {t}-{p} assigned"
                );
            } else {
                let owner = owner.unwrap_or_else(|| panic!("seed {seed}: {t}-{p} unassigned"));
                assert!(
                    subscribers.contains(&owner),
                    "seed {seed}: {owner} not subscribed to {t}"
                );
            }
        }
        let counts: Vec<usize> = subscribers
            .iter()
            .map(|m| out[*m].get(t).map_or(0, BTreeSet::len))
            .collect();
        if let (Some(lo), Some(hi)) = (counts.iter().min(), counts.iter().max()) {
            assert!(hi - lo <= 1, "seed {seed}: {t} spread {counts:?}");
        }
    }
    assert_eq!(
        seen.len(),
        case.topics
            .iter()
            .filter(|(t, _)| case.members.values().any(|s| s.contains(t)))
            .map(|(_, n)| *n as usize)
            .sum::<usize>(),
        "seed {seed}: partitions assigned"
    );
}

fn co_partitioned(out: &BTreeMap<String, Assignment>) -> bool {
    out.values().all(|a| {
        let mut sets = a.values();
        match sets.next() {
            Some(first) => sets.all(|s| s == first),
            None => true,
        }
    })
}

#[test]
fn range_property_balanced_complete_sticky_and_deterministic() {
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let homogeneous = rng.below(2) == 0;
        let same_counts = rng.below(2) == 0;
        let before = random_case(&mut rng, same_counts, homogeneous);
        let first = Assignor::Range.assign(AssignmentSpec {
            members: &before.members,
            topics: &before.topics,
            current: &BTreeMap::new(),
        });
        check_range(&before, &first, seed);
        // Churn: some members leave, some join, topics may grow.
        let mut after = Case {
            topics: before.topics.clone(),
            members: before
                .members
                .iter()
                .filter(|_| rng.below(4) != 0)
                .map(|(m, s)| (m.clone(), s.clone()))
                .collect(),
        };
        for i in 0..rng.below(3) {
            let subs = before
                .topics
                .keys()
                .copied()
                .filter(|_| homogeneous || rng.below(2) == 0);
            after.members.insert(format!("n{i}"), subs.collect());
        }
        if rng.below(3) == 0 {
            for n in after.topics.values_mut() {
                *n += rng.below(4) as i32;
            }
        }
        let spec = AssignmentSpec {
            members: &after.members,
            topics: &after.topics,
            current: &first,
        };
        let second = Assignor::Range.assign(spec);
        check_range(&after, &second, seed);
        assert_eq!(
            second,
            Assignor::Range.assign(spec),
            "seed {seed}: deterministic"
        );
        // Sticky: a staying member keeps its previous partitions of a topic up to the
        // new quota (Kafka's RangeAssignor retains min(current, quota)).
        for (m, subs) in &after.members {
            let Some(prev) = first.get(m) else { continue };
            for t in subs {
                let k = after.members.values().filter(|s| s.contains(t)).count();
                let quota = after.topics[t] as usize / k.max(1);
                let had = prev.get(t).map_or(0, BTreeSet::len);
                let kept = prev
                    .get(t)
                    .into_iter()
                    .flatten()
                    .filter(|p| second[m].get(t).is_some_and(|s| s.contains(p)))
                    .count();
                assert!(
                    kept >= had.min(quota),
                    "seed {seed}: {m} kept {kept} of {had} on {t} (quota {quota})"
                );
            }
        }
    }
}

#[test]
fn range_property_co_partitioned_topics_stay_co_partitioned() {
    for seed in 1..=2000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let before = random_case(&mut rng, true, true);
        let first = Assignor::Range.assign(AssignmentSpec {
            members: &before.members,
            topics: &before.topics,
            current: &BTreeMap::new(),
        });
        assert!(co_partitioned(&first), "seed {seed}: {first:?}");
        let all: BTreeSet<TopicId> = before.topics.keys().copied().collect();
        let mut members: BTreeMap<String, BTreeSet<TopicId>> = before
            .members
            .into_iter()
            .filter(|_| rng.below(3) != 0)
            .collect();
        for i in 0..rng.below(3) {
            members.insert(format!("n{i}"), all.clone());
        }
        let second = Assignor::Range.assign(AssignmentSpec {
            members: &members,
            topics: &before.topics,
            current: &first,
        });
        assert!(co_partitioned(&second), "seed {seed}: {second:?}");
    }
}
