//! Range: for each topic, its subscribers in member-id order take contiguous ranges,
//! the first `partitions % members` of them one partition more (the classic
//! `RangeAssignor`'s rule, applied server-side). Not sticky: a member joining moves
//! ranges, which reconciliation then carries out revoke-first.

use super::AssignmentSpec;
use crate::assignment::{self, Assignment};
use std::collections::BTreeMap;

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
        let n = subscribers.len() as i64;
        if n == 0 || count <= 0 {
            continue;
        }
        let count = i64::from(count);
        let (quota, extra) = (count / n, count % n);
        let mut next = 0i64;
        for (i, m) in subscribers.into_iter().enumerate() {
            let take = quota + i64::from((i as i64) < extra);
            let Some(a) = out.get_mut(m) else {
                continue;
            };
            for p in next..next + take {
                assignment::insert(a, *topic, p as i32);
            }
            next += take;
        }
    }
    out
}
