//! Uniform: every member gets as close to the same number of partitions as its
//! subscription allows, and keeps as much of its current target as balance allows
//! (sticky), so a rebalance moves few partitions.
//!
//! Two paths, as Kafka's `UniformAssignor` has: when every member subscribes to the same
//! topics, quotas are exact (`total / members`, the remainder one each to the members
//! that already hold the most); otherwise partitions go to the least-loaded subscriber
//! and are then moved from the most to the least loaded eligible member while that
//! narrows the gap (each move lowers the sum of squared loads, so it ends).

use super::AssignmentSpec;
use crate::assignment::{self, Assignment, TopicId};
use std::collections::{BTreeMap, BTreeSet};

pub fn assign(spec: AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = BTreeMap::new();
    let mut taken: BTreeSet<(TopicId, i32)> = BTreeSet::new();
    // Keep what is still valid, each partition once.
    for (member, subs) in spec.members {
        let mut kept = Assignment::new();
        if let Some(current) = spec.current.get(member) {
            for (t, p) in assignment::partitions(current) {
                let exists = spec.topics.get(&t).is_some_and(|&n| p >= 0 && p < n);
                if exists && subs.contains(&t) && taken.insert((t, p)) {
                    assignment::insert(&mut kept, t, p);
                }
            }
        }
        out.insert(member.clone(), kept);
    }
    let subscribed: BTreeSet<TopicId> = spec.members.values().flatten().copied().collect();
    let mut unassigned: Vec<(TopicId, i32)> = subscribed
        .iter()
        .flat_map(|t| (0..spec.topics.get(t).copied().unwrap_or(0)).map(move |p| (*t, p)))
        .filter(|tp| !taken.contains(tp))
        .collect();
    let mut subs_iter = spec.members.values();
    let homogeneous = match subs_iter.next() {
        Some(first) => subs_iter.all(|s| s == first),
        None => return out,
    };
    if homogeneous {
        balance_homogeneous(&mut out, &mut unassigned, taken.len());
    } else {
        balance_heterogeneous(&mut out, unassigned, spec.members);
    }
    out
}

fn balance_homogeneous(
    out: &mut BTreeMap<String, Assignment>,
    unassigned: &mut Vec<(TopicId, i32)>,
    kept_total: usize,
) {
    let members = out.len();
    let total = kept_total + unassigned.len();
    let (quota, extra) = (total / members, total % members);
    // The members holding the most keep the extra slots: fewest moves.
    let mut order: Vec<(usize, String)> = out
        .iter()
        .map(|(m, a)| (assignment::count(a), m.clone()))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let capacity: BTreeMap<String, usize> = order
        .into_iter()
        .enumerate()
        .map(|(i, (_, m))| (m, quota + usize::from(i < extra)))
        .collect();
    for (m, a) in out.iter_mut() {
        let cap = capacity.get(m).copied().unwrap_or(quota);
        while assignment::count(a) > cap {
            let Some((t, p)) = assignment::partitions(a).last() else {
                break;
            };
            assignment::remove(a, t, p);
            unassigned.push((t, p));
        }
    }
    unassigned.sort_unstable();
    let mut next = unassigned.drain(..);
    for (m, a) in out.iter_mut() {
        let cap = capacity.get(m).copied().unwrap_or(quota);
        while assignment::count(a) < cap {
            let Some((t, p)) = next.next() else {
                return;
            };
            assignment::insert(a, t, p);
        }
    }
}

fn balance_heterogeneous(
    out: &mut BTreeMap<String, Assignment>,
    unassigned: Vec<(TopicId, i32)>,
    subs: &BTreeMap<String, BTreeSet<TopicId>>,
) {
    let mut load: BTreeMap<String, usize> = out
        .iter()
        .map(|(m, a)| (m.clone(), assignment::count(a)))
        .collect();
    let least_loaded = |load: &BTreeMap<String, usize>, topic: &TopicId| -> Option<String> {
        subs.iter()
            .filter(|(_, s)| s.contains(topic))
            .map(|(m, _)| (load.get(m).copied().unwrap_or(0), m))
            .min()
            .map(|(_, m)| m.clone())
    };
    for (t, p) in unassigned {
        if let Some(m) = least_loaded(&load, &t) {
            if let Some(a) = out.get_mut(&m) {
                assignment::insert(a, t, p);
            }
            *load.entry(m).or_default() += 1;
        }
    }
    // Move from the most to a less loaded eligible member while the gap exceeds one.
    loop {
        let mut by_load: Vec<(usize, String)> = load.iter().map(|(m, l)| (*l, m.clone())).collect();
        by_load.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let mut moved = None;
        'find: for (from_load, from) in &by_load {
            let Some(a) = out.get(from) else { continue };
            for (t, p) in assignment::partitions(a) {
                if let Some(to) = least_loaded(&load, &t) {
                    if load.get(&to).copied().unwrap_or(0) + 1 < *from_load {
                        moved = Some((from.clone(), to, t, p));
                        break 'find;
                    }
                }
            }
        }
        let Some((from, to, t, p)) = moved else {
            break;
        };
        if let Some(a) = out.get_mut(&from) {
            assignment::remove(a, t, p);
        }
        if let Some(a) = out.get_mut(&to) {
            assignment::insert(a, t, p);
        }
        *load.entry(from).or_default() -= 1;
        *load.entry(to).or_default() += 1;
    }
}
