//! Replica assignment for new topics and partitions: which brokers hold each partition, the first
//! being the preferred leader.
//!
//! This is Kafka's own algorithm (`AdminUtils.assignReplicasToBrokers`), so operators who know
//! Kafka can predict it:
//! - Brokers are ordered by alternating racks (`a1, b1, c1, a2, b2, ...`), so walking the list
//!   round-robin visits every rack before any rack twice.
//! - Partition `p` is led by broker `(p + start) % n`: leaders are spread evenly.
//! - Followers are found walking the list from the leader with a shift that grows by one each
//!   time all brokers have led once, so the followers of a broker's partitions are not always the
//!   same brokers (a failed broker's load spreads over many others). A broker is skipped while its
//!   rack already holds a replica and some rack does not yet.
//!
//! Unlike Kafka, `start` and the initial shift are not random but derived from the topic name:
//! the result is deterministic (reconciles are repeatable and testable) while different topics
//! still start their leaders on different brokers.

use std::collections::{BTreeMap, BTreeSet};

/// A broker as the assignment sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    pub id: i32,
    /// Failure domain; brokers without one only mix with other brokers without one.
    pub rack: Option<String>,
}

/// A request the brokers cannot satisfy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("no brokers are registered")]
    NoBrokers,
    #[error("replication factor must be at least 1, got {0}")]
    InvalidReplicationFactor(i32),
    #[error("partitions must be at least 1, got {0}")]
    InvalidPartitions(i32),
    #[error(
        "replication factor {replication_factor} is larger than the {brokers} available brokers"
    )]
    ReplicationFactorTooLarge {
        replication_factor: i32,
        brokers: usize,
    },
    #[error(
        "brokers {without:?} have no rack while others do; set a rack on every broker or none"
    )]
    IncompleteRackInformation { without: Vec<i32> },
}

/// Replicas of partitions `first..total` of `topic` (index 0 of the result is partition `first`).
/// Creating a topic is `first = 0`; growing one from `n` partitions is `first = n`.
pub fn assign(
    topic: &str,
    brokers: &[Broker],
    first: i32,
    total: i32,
    replication_factor: i32,
) -> Result<Vec<Vec<i32>>, AssignmentError> {
    if replication_factor < 1 {
        return Err(AssignmentError::InvalidReplicationFactor(
            replication_factor,
        ));
    }
    if total < 1 || first < 0 || first > total {
        return Err(AssignmentError::InvalidPartitions(total));
    }
    if brokers.is_empty() {
        return Err(AssignmentError::NoBrokers);
    }
    let rf = usize::try_from(replication_factor).unwrap_or(usize::MAX);
    if rf > brokers.len() {
        return Err(AssignmentError::ReplicationFactorTooLarge {
            replication_factor,
            brokers: brokers.len(),
        });
    }
    let racks = racks_of(brokers)?;
    let arranged = rack_alternated(&racks);
    let n = arranged.len();
    let rack_count = racks.len();
    let seed = fnv1a(topic);
    let start = (seed % n as u64) as usize;
    let initial_shift = ((seed >> 32) % n as u64) as usize;

    let rack_of: BTreeMap<i32, &str> = racks
        .iter()
        .flat_map(|(rack, ids)| ids.iter().map(move |id| (*id, rack.as_str())))
        .collect();
    let mut out = Vec::new();
    for p in first..total {
        let p = p as usize;
        let shift = initial_shift + p / n;
        let leader_index = (p + start) % n;
        let leader = arranged[leader_index];
        let mut replicas = vec![leader];
        let mut used_racks = BTreeSet::from([rack_of[&leader]]);
        let mut k = 0;
        while replicas.len() < rf {
            let candidate = arranged[follower_index(leader_index, shift * rack_count, k, n)];
            let rack = rack_of[&candidate];
            let rack_ok = !used_racks.contains(rack) || used_racks.len() == rack_count;
            if rack_ok && !replicas.contains(&candidate) {
                replicas.push(candidate);
                used_racks.insert(rack);
            }
            k += 1;
        }
        out.push(replicas);
    }
    Ok(out)
}

/// Kafka's `replicaIndex`: the `k`-th follower candidate after the leader, never the leader.
fn follower_index(leader: usize, shift: usize, k: usize, n: usize) -> usize {
    if n == 1 {
        return leader;
    }
    (leader + 1 + (shift + k) % (n - 1)) % n
}

/// Broker ids by rack (racks and ids sorted); brokers without rack form the rack `""` only when
/// no broker has one.
fn racks_of(brokers: &[Broker]) -> Result<BTreeMap<String, Vec<i32>>, AssignmentError> {
    let rack = |b: &Broker| b.rack.clone().filter(|r| !r.is_empty());
    let mut without: Vec<i32> = brokers
        .iter()
        .filter(|b| rack(b).is_none())
        .map(|b| b.id)
        .collect();
    if !without.is_empty() && without.len() != brokers.len() {
        without.sort_unstable();
        return Err(AssignmentError::IncompleteRackInformation { without });
    }
    let mut racks: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for b in brokers {
        racks
            .entry(rack(b).unwrap_or_default())
            .or_default()
            .push(b.id);
    }
    for ids in racks.values_mut() {
        ids.sort_unstable();
        ids.dedup();
    }
    Ok(racks)
}

/// `a1, b1, c1, a2, b2, c2, a3, ...` for racks `a`, `b`, `c`.
fn rack_alternated(racks: &BTreeMap<String, Vec<i32>>) -> Vec<i32> {
    let deepest = racks.values().map(Vec::len).max().unwrap_or(0);
    (0..deepest)
        .flat_map(|i| racks.values().filter_map(move |ids| ids.get(i).copied()))
        .collect()
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(n: i32) -> Vec<Broker> {
        (0..n).map(|id| Broker { id, rack: None }).collect()
    }

    fn racked(spec: &[(i32, &str)]) -> Vec<Broker> {
        spec.iter()
            .map(|(id, r)| Broker {
                id: *id,
                rack: Some((*r).into()),
            })
            .collect()
    }

    fn count<'a>(ids: impl Iterator<Item = &'a i32>) -> BTreeMap<i32, usize> {
        let mut m = BTreeMap::new();
        for id in ids {
            *m.entry(*id).or_default() += 1;
        }
        m
    }

    #[test]
    fn leaders_and_replicas_are_balanced() {
        let a = assign("orders", &brokers(3), 0, 12, 2).unwrap();
        assert_eq!(a.len(), 12);
        let leaders = count(a.iter().map(|r| &r[0]));
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), [4, 4, 4]);
        let replicas = count(a.iter().flatten());
        assert_eq!(replicas.values().copied().collect::<Vec<_>>(), [8, 8, 8]);
    }

    #[test]
    fn a_partition_never_holds_a_broker_twice() {
        for n in 1..=6 {
            for rf in 1..=n {
                for r in assign("t", &brokers(n), 0, 20, rf).unwrap() {
                    let distinct: BTreeSet<_> = r.iter().collect();
                    assert_eq!(distinct.len(), r.len(), "n={n} rf={rf} {r:?}");
                    assert_eq!(r.len(), rf as usize);
                }
            }
        }
    }

    #[test]
    fn followers_of_one_leader_vary_across_partitions() {
        let a = assign("t", &brokers(4), 0, 16, 2).unwrap();
        let followers_of_0: BTreeSet<i32> = a.iter().filter(|r| r[0] == 0).map(|r| r[1]).collect();
        assert!(followers_of_0.len() > 1, "{a:?}");
    }

    #[test]
    fn replicas_spread_across_racks() {
        let b = racked(&[(0, "a"), (1, "a"), (2, "b"), (3, "b"), (4, "c"), (5, "c")]);
        let rack = |id: i32| b.iter().find(|x| x.id == id).unwrap().rack.clone().unwrap();
        let a = assign("payments", &b, 0, 30, 3).unwrap();
        for r in &a {
            let racks: BTreeSet<_> = r.iter().map(|id| rack(*id)).collect();
            assert_eq!(racks.len(), 3, "{r:?}");
        }
        let leaders = count(a.iter().map(|r| &r[0]));
        assert!(leaders.values().all(|&c| c == 5), "{leaders:?}");
    }

    #[test]
    fn more_replicas_than_racks_still_uses_every_rack() {
        let b = racked(&[(0, "a"), (1, "a"), (2, "b"), (3, "b")]);
        for r in assign("t", &b, 0, 8, 3).unwrap() {
            let racks: BTreeSet<_> = r.iter().map(|id| if *id < 2 { "a" } else { "b" }).collect();
            assert_eq!(racks.len(), 2, "{r:?}");
        }
    }

    #[test]
    fn same_input_gives_the_same_assignment_whatever_the_broker_order() {
        let mut b = brokers(5);
        let first = assign("events", &b, 0, 10, 3).unwrap();
        b.reverse();
        assert_eq!(assign("events", &b, 0, 10, 3).unwrap(), first);
    }

    #[test]
    fn growing_continues_the_creation_pattern() {
        let full = assign("events", &brokers(3), 0, 9, 2).unwrap();
        let tail = assign("events", &brokers(3), 6, 9, 2).unwrap();
        assert_eq!(tail, full[6..]);
    }

    #[test]
    fn different_topics_start_on_different_brokers() {
        let leaders: BTreeSet<i32> = ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .map(|t| assign(t, &brokers(3), 0, 1, 1).unwrap()[0][0])
            .collect();
        assert!(leaders.len() > 1);
    }

    #[test]
    fn replication_factor_above_broker_count_is_refused() {
        assert_eq!(
            assign("t", &brokers(2), 0, 3, 3),
            Err(AssignmentError::ReplicationFactorTooLarge {
                replication_factor: 3,
                brokers: 2
            })
        );
    }

    #[test]
    fn impossible_requests_are_refused() {
        assert_eq!(assign("t", &[], 0, 1, 1), Err(AssignmentError::NoBrokers));
        assert_eq!(
            assign("t", &brokers(3), 0, 1, 0),
            Err(AssignmentError::InvalidReplicationFactor(0))
        );
        assert_eq!(
            assign("t", &brokers(3), 0, 0, 1),
            Err(AssignmentError::InvalidPartitions(0))
        );
        let mixed = vec![
            Broker {
                id: 0,
                rack: Some("a".into()),
            },
            Broker { id: 1, rack: None },
            Broker {
                id: 2,
                rack: Some(String::new()),
            },
        ];
        assert_eq!(
            assign("t", &mixed, 0, 1, 1),
            Err(AssignmentError::IncompleteRackInformation {
                without: vec![1, 2]
            })
        );
    }
}
