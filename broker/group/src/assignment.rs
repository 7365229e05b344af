//! Partition sets keyed by topic id, as the protocol carries them.

use std::collections::{BTreeMap, BTreeSet};

pub type TopicId = uuid::Uuid;

/// Partitions by topic id. Empty sets are never stored.
pub type Assignment = BTreeMap<TopicId, BTreeSet<i32>>;

/// Number of partitions in an assignment.
pub fn count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

/// Every (topic, partition) of an assignment.
pub fn partitions(a: &Assignment) -> impl Iterator<Item = (TopicId, i32)> + '_ {
    a.iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
}

/// Adds one partition.
pub fn insert(a: &mut Assignment, topic: TopicId, partition: i32) {
    a.entry(topic).or_default().insert(partition);
}

/// Removes one partition; drops the topic when it was its last.
pub fn remove(a: &mut Assignment, topic: TopicId, partition: i32) -> bool {
    let Some(ps) = a.get_mut(&topic) else {
        return false;
    };
    let removed = ps.remove(&partition);
    if ps.is_empty() {
        a.remove(&topic);
    }
    removed
}

/// Whether `a` contains the partition.
pub fn contains(a: &Assignment, topic: TopicId, partition: i32) -> bool {
    a.get(&topic).is_some_and(|ps| ps.contains(&partition))
}

/// Builds an assignment from (topic, partitions) pairs as a request carries them.
pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (TopicId, &'a [i32])>) -> Assignment {
    let mut a = Assignment::new();
    for (t, ps) in pairs {
        for p in ps {
            insert(&mut a, t, *p);
        }
    }
    a
}

/// Whether every partition of `owned` is in `of` (`None`, "not sent", is not a subset).
pub fn is_subset(owned: Option<&Assignment>, of: &Assignment) -> bool {
    owned.is_some_and(|o| partitions(o).all(|(t, p)| contains(of, t, p)))
}
