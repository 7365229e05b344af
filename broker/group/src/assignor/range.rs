//! Range, as Kafka 4's server-side `RangeAssignor`: per topic, its subscribers share
//! the partitions in counts differing by at most one, and keep what they held.
//!
//! For each topic with `n` partitions and `k` subscribers (in member-id order), the
//! quota is `n / k` and `n % k` subscribers get one more. A subscriber first keeps its
//! lowest-numbered current partitions up to the quota, and one more while extra slots
//! remain and it held more than the quota (sticky). Every other partition is then
//! handed out in ascending order, as contiguous runs, to the subscribers still short
//! (each short one also takes an extra slot while any remain).
//!
//! Why lowest-numbered first: when every member subscribes to topics with the same
//! partition count, the first assignment gives each member the same partition numbers
//! of every topic (co-partitioning, for joins), and keeping the lowest ones, the same
//! on every topic, preserves that across rebalances.

use super::AssignmentSpec;
use crate::assignment::{self, Assignment};
use std::collections::{BTreeMap, BTreeSet};

pub fn assign(spec: AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = spec
        .members
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for (topic, &count) in spec.topics {
        let subscribers: Vec<&String> = spec
            .members
            .iter()
            .filter(|(_, subs)| subs.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        let k = subscribers.len();
        let n = usize::try_from(count).unwrap_or(0);
        let (quota, mut extra) = (n / k, n % k);
        let mut kept: BTreeSet<i32> = BTreeSet::new();
        // (member, how many more it needs to reach the quota)
        let mut short: Vec<(&String, usize)> = Vec::new();
        for m in subscribers {
            // Its current partitions of this topic that still exist, lowest first,
            // each counted once even if a stale target listed it twice.
            let current: Vec<i32> = spec
                .current
                .get(m)
                .and_then(|a| a.get(topic))
                .map(|ps| {
                    ps.iter()
                        .copied()
                        .filter(|p| *p >= 0 && *p < count && !kept.contains(p))
                        .collect()
                })
                .unwrap_or_default();
            let Some(a) = out.get_mut(m) else {
                continue;
            };
            let keep = current.len().min(quota);
            for &p in &current[..keep] {
                assignment::insert(a, *topic, p);
                kept.insert(p);
            }
            if current.len() > quota && extra > 0 {
                extra -= 1;
                let p = current[quota];
                assignment::insert(a, *topic, p);
                kept.insert(p);
            } else {
                short.push((m, quota - keep));
            }
        }
        let mut free = (0..count).filter(|p| !kept.contains(p));
        for (m, mut need) in short {
            if extra > 0 {
                extra -= 1;
                need += 1;
            }
            let Some(a) = out.get_mut(m) else {
                continue;
            };
            for p in free.by_ref().take(need) {
                assignment::insert(a, *topic, p);
            }
        }
    }
    out
}
