//! Scale-up: moves that bring replicas and preferred leaderships onto new brokers until every
//! broker is within a tolerance of the others.
//!
//! Rules, applied greedily (each step is the single best move, so the plan is short):
//! 1. Replicas: while the most loaded broker holds more than `tolerance` replicas over the
//!    least loaded, move one replica from the former to the latter, choosing a partition the
//!    latter does not hold and whose racks stay as distinct as before (lowest topic/partition
//!    first, for determinism). A move keeps the replica's position in the list.
//! 2. Leaders: then, while the broker preferred as leader most often leads more than
//!    `tolerance` partitions over the one leading least, make the latter the preferred leader
//!    of a partition it already holds (an order change; no data moves).
//!
//! Each rule stops when no move improves it, so the plan always ends; the result is a list of
//! reassignments, one per changed partition.

use std::collections::{BTreeMap, BTreeSet};

use super::{load, rack_of, replica_map, Reassignment};
use crate::assignment::Broker;
use crate::roll::PartitionState;

/// Replicas (and leaderships) a broker may be off from another before moves are planned.
pub const DEFAULT_TOLERANCE: usize = 1;

/// The moves that balance `partitions` over `brokers` (new ones included).
pub fn balance_plan(
    partitions: &[PartitionState],
    brokers: &[Broker],
    tolerance: usize,
) -> Vec<Reassignment> {
    let original = replica_map(partitions);
    let mut replicas = original.clone();
    let racks = |list: &[i32]| -> usize {
        list.iter()
            .map(|r| rack_of(brokers, *r))
            .collect::<BTreeSet<_>>()
            .len()
    };
    let total_replicas: usize = replicas.values().map(Vec::len).sum();
    // Rule 1: each step lowers the spread, so this many steps always suffice.
    for _ in 0..=total_replicas {
        let counts = load(brokers, &replicas);
        let (Some((&max_id, max)), Some((&min_id, min))) = (
            counts
                .iter()
                .max_by_key(|(id, c)| (c.0, std::cmp::Reverse(**id))),
            counts.iter().min_by_key(|(id, c)| (c.0, **id)),
        ) else {
            break;
        };
        if max.0 <= min.0 + tolerance {
            break;
        }
        let candidate = replicas.iter().find_map(|(key, list)| {
            let i = list.iter().position(|r| *r == max_id)?;
            if list.contains(&min_id) {
                return None;
            }
            let mut moved = list.clone();
            moved[i] = min_id;
            (racks(&moved) >= racks(list)).then(|| (key.clone(), moved))
        });
        let Some((key, moved)) = candidate else { break };
        replicas.insert(key, moved);
    }
    // Rule 2.
    let partition_count = replicas.len();
    for _ in 0..=partition_count {
        let counts = load(brokers, &replicas);
        let (Some((&max_id, max)), Some((&min_id, min))) = (
            counts
                .iter()
                .max_by_key(|(id, c)| (c.1, std::cmp::Reverse(**id))),
            counts.iter().min_by_key(|(id, c)| (c.1, **id)),
        ) else {
            break;
        };
        if max.1 <= min.1 + tolerance {
            break;
        }
        let candidate = replicas.iter().find_map(|(key, list)| {
            let j = list.iter().position(|r| *r == min_id)?;
            (list.first() == Some(&max_id)).then(|| {
                let mut moved = list.clone();
                moved.swap(0, j);
                (key.clone(), moved)
            })
        });
        let Some((key, moved)) = candidate else { break };
        replicas.insert(key, moved);
    }
    replicas
        .into_iter()
        .filter(|(key, list)| original.get(key) != Some(list))
        .map(|((topic, partition), to)| Reassignment {
            from: original[&(topic.clone(), partition)].clone(),
            topic,
            partition,
            to,
        })
        .collect()
}

/// Replicas and leaderships per broker after `plan` (for status and tests).
pub fn load_after(
    partitions: &[PartitionState],
    brokers: &[Broker],
    plan: &[Reassignment],
) -> BTreeMap<i32, (usize, usize)> {
    let mut replicas = replica_map(partitions);
    for m in plan {
        replicas.insert((m.topic.clone(), m.partition), m.to.clone());
    }
    load(brokers, &replicas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::fixtures::{brokers, p};

    /// Kafka's layout of a 12-partition RF-3 topic on three brokers.
    fn on_three() -> Vec<PartitionState> {
        (0..12)
            .map(|n| {
                let l = n % 3;
                p("orders", n, &[l, (l + 1) % 3, (l + 2) % 3])
            })
            .collect()
    }

    fn spread(load: &BTreeMap<i32, (usize, usize)>) -> (usize, usize) {
        let r: Vec<usize> = load.values().map(|c| c.0).collect();
        let l: Vec<usize> = load.values().map(|c| c.1).collect();
        (
            r.iter().max().unwrap() - r.iter().min().unwrap(),
            l.iter().max().unwrap() - l.iter().min().unwrap(),
        )
    }

    #[test]
    fn new_brokers_receive_replicas_and_leaders_until_balanced_within_the_tolerance() {
        let b = brokers(&["", "", "", "", ""]);
        let parts = on_three();
        let plan = balance_plan(&parts, &b, DEFAULT_TOLERANCE);
        let after = load_after(&parts, &b, &plan);
        let (replicas, leaders) = spread(&after);
        assert!(replicas <= DEFAULT_TOLERANCE, "{after:?}");
        assert!(leaders <= DEFAULT_TOLERANCE, "{after:?}");
        assert!(after[&3].0 >= 7 && after[&4].0 >= 7, "{after:?}");
        for m in &plan {
            let distinct: BTreeSet<_> = m.to.iter().collect();
            assert_eq!(distinct.len(), m.to.len(), "{m}");
            assert_eq!(m.to.len(), m.from.len(), "{m}");
        }
    }

    #[test]
    fn a_balanced_cluster_needs_no_move() {
        let b = brokers(&["", "", ""]);
        assert!(balance_plan(&on_three(), &b, DEFAULT_TOLERANCE).is_empty());
    }

    #[test]
    fn balancing_never_puts_two_replicas_of_a_partition_in_one_rack_that_were_apart() {
        // Brokers 0,1,2 in racks a,b,c; new brokers 3 (rack a) and 4 (rack b).
        let b = brokers(&["a", "b", "c", "a", "b"]);
        let parts = on_three();
        let plan = balance_plan(&parts, &b, DEFAULT_TOLERANCE);
        assert!(!plan.is_empty());
        for m in &plan {
            let racks: BTreeSet<_> = m.to.iter().map(|r| rack_of(&b, *r)).collect();
            assert_eq!(racks.len(), 3, "{m}");
        }
    }

    #[test]
    fn a_larger_tolerance_plans_fewer_moves() {
        let b = brokers(&["", "", "", ""]);
        let tight = balance_plan(&on_three(), &b, 1).len();
        let loose = balance_plan(&on_three(), &b, 6).len();
        assert!(loose < tight, "{loose} < {tight}");
    }
}
