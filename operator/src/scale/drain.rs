//! Scale-down: may the highest ordinals leave, and which reassignments empty them first.
//!
//! Rules:
//! 1. The brokers that stay (ordinals `0..to`) must be able to hold the largest replication
//!    factor: a partition needs that many distinct brokers. Otherwise the scale-down is refused
//!    naming the topics, and nothing is deleted.
//! 2. Every replica on a leaving broker moves to a staying broker that does not hold the
//!    partition yet, keeping its position in the replica list (a leaving preferred leader is
//!    replaced by the new preferred leader).
//! 3. The destination keeps the partition's racks distinct when it can (a rack not yet
//!    holding the partition first), then is the least loaded staying broker (replicas, then
//!    leaderships when it becomes the preferred leader), then the lowest id: the result is
//!    balanced and deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{load, rack_of, replica_map, Reassignment};
use crate::assignment::Broker;
use crate::roll::PartitionState;

/// Why a scale-down is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleDownRefusal {
    /// Topics whose replication factor is larger than the brokers that would stay.
    ReplicationFactorTooLarge {
        remaining: usize,
        /// (topic, replication factor), largest first.
        topics: Vec<(String, usize)>,
    },
}

impl ScaleDownRefusal {
    pub fn reason(&self) -> &'static str {
        match self {
            ScaleDownRefusal::ReplicationFactorTooLarge { .. } => "ReplicationFactorTooLarge",
        }
    }
}

impl fmt::Display for ScaleDownRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScaleDownRefusal::ReplicationFactorTooLarge { remaining, topics } => write!(
                f,
                "the {remaining} remaining brokers cannot hold {}; lower their replication \
                 factor or keep more brokers",
                topics
                    .iter()
                    .map(|(t, rf)| format!("{t} (replication factor {rf})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Whether brokers `to..` may leave: None when they may (after a drain).
pub fn check_scale_down(partitions: &[PartitionState], to: i32) -> Option<ScaleDownRefusal> {
    let remaining = usize::try_from(to.max(0)).unwrap_or(0);
    let mut too_large: BTreeMap<String, usize> = BTreeMap::new();
    for p in partitions.iter().filter(|p| p.replicas.len() > remaining) {
        let rf = too_large.entry(p.topic.clone()).or_default();
        *rf = (*rf).max(p.replicas.len());
    }
    if too_large.is_empty() {
        return None;
    }
    let mut topics: Vec<(String, usize)> = too_large.into_iter().collect();
    topics.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Some(ScaleDownRefusal::ReplicationFactorTooLarge { remaining, topics })
}

/// The reassignments that move every replica off brokers `to..`, or why that is impossible.
/// Empty when the leaving brokers already host nothing: the StatefulSet may shrink.
pub fn drain_plan(
    partitions: &[PartitionState],
    brokers: &[Broker],
    to: i32,
) -> Result<Vec<Reassignment>, ScaleDownRefusal> {
    if let Some(refusal) = check_scale_down(partitions, to) {
        return Err(refusal);
    }
    let staying: Vec<Broker> = brokers.iter().filter(|b| b.id < to).cloned().collect();
    let mut replicas = replica_map(partitions);
    let mut counts = load(&staying, &replicas);
    let mut out = Vec::new();
    let keys: Vec<(String, i32)> = replicas.keys().cloned().collect();
    for key in keys {
        let from = replicas[&key].clone();
        if !from.iter().any(|r| *r >= to) {
            continue;
        }
        let mut to_list = from.clone();
        for i in 0..to_list.len() {
            if to_list[i] < to {
                continue;
            }
            let others: Vec<i32> = to_list
                .iter()
                .enumerate()
                .filter(|(j, r)| *j != i && **r < to)
                .map(|(_, r)| *r)
                .collect();
            let used_racks: BTreeSet<Option<&str>> =
                others.iter().map(|r| rack_of(brokers, *r)).collect();
            let best = staying
                .iter()
                .filter(|b| !to_list.contains(&b.id))
                .min_by_key(|b| {
                    let (replicas, leaders) = counts.get(&b.id).copied().unwrap_or_default();
                    let rack_taken = b.rack.is_some() && used_racks.contains(&b.rack.as_deref());
                    (rack_taken, replicas, if i == 0 { leaders } else { 0 }, b.id)
                })
                .map(|b| b.id);
            // Rule 1 guarantees a free staying broker for every replica.
            let Some(dest) = best else { continue };
            to_list[i] = dest;
            if let Some(c) = counts.get_mut(&dest) {
                c.0 += 1;
                if i == 0 {
                    c.1 += 1;
                }
            }
        }
        replicas.insert(key.clone(), to_list.clone());
        out.push(Reassignment {
            topic: key.0,
            partition: key.1,
            from,
            to: to_list,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::fixtures::{brokers, p};

    #[test]
    fn a_scale_down_below_the_largest_replication_factor_is_refused_naming_the_topics() {
        let parts = [p("orders", 0, &[0, 1, 2]), p("audit", 0, &[3, 4])];
        let refusal = check_scale_down(&parts, 2).expect("refused");
        assert_eq!(
            refusal,
            ScaleDownRefusal::ReplicationFactorTooLarge {
                remaining: 2,
                topics: vec![("orders".into(), 3)]
            }
        );
        assert!(refusal
            .to_string()
            .contains("orders (replication factor 3)"));
        assert!(drain_plan(&parts, &brokers(&["", "", "", "", ""]), 2).is_err());
        assert_eq!(check_scale_down(&parts, 3), None);
    }

    #[test]
    fn the_drain_moves_every_replica_off_the_leaving_brokers_and_nothing_else() {
        let b = brokers(&["", "", "", "", ""]);
        let parts = [
            p("orders", 0, &[0, 1, 2]),
            p("orders", 1, &[3, 4, 0]),
            p("orders", 2, &[4, 1, 2]),
        ];
        let plan = drain_plan(&parts, &b, 3).unwrap();
        assert_eq!(plan.len(), 2, "orders-0 stays where it is: {plan:?}");
        for m in &plan {
            assert!(m.to.iter().all(|r| *r < 3), "{m}");
            let distinct: BTreeSet<_> = m.to.iter().collect();
            assert_eq!(distinct.len(), m.to.len(), "{m}");
            for (i, r) in m.from.iter().enumerate() {
                if *r < 3 {
                    assert_eq!(m.to[i], *r, "staying replicas keep their place: {m}");
                }
            }
        }
    }

    #[test]
    fn drained_replicas_spread_evenly_over_the_remaining_brokers() {
        let b = brokers(&["", "", "", "", "", ""]);
        // Twelve single-replica partitions on brokers 3, 4 and 5.
        let parts: Vec<_> = (0..12).map(|n| p("t", n, &[3 + n % 3])).collect();
        let plan = drain_plan(&parts, &b, 3).unwrap();
        let mut per: BTreeMap<i32, usize> = BTreeMap::new();
        for m in &plan {
            *per.entry(m.to[0]).or_default() += 1;
        }
        assert_eq!(per, BTreeMap::from([(0, 4), (1, 4), (2, 4)]));
    }

    #[test]
    fn the_drain_keeps_replicas_in_distinct_racks_when_it_can() {
        // Racks: 0=a 1=b 2=a 3=b (leaving: 3).
        let b = brokers(&["a", "b", "a", "b"]);
        let parts = [p("orders", 0, &[0, 3])];
        let plan = drain_plan(&parts, &b, 3).unwrap();
        assert_eq!(plan[0].to, vec![0, 1], "rack b replaced by rack b");
    }

    #[test]
    fn an_empty_leaving_broker_needs_no_move() {
        let b = brokers(&["", "", "", ""]);
        let parts = [p("orders", 0, &[0, 1, 2])];
        assert!(drain_plan(&parts, &b, 3).unwrap().is_empty());
    }
}
