//! `spec.rollout.strategy: RackParallel`: roll a whole rack (zone) at once when that is safe,
//! else fall back to the one-at-a-time planner and say why.
//!
//! Rules, on top of [`super::next_action`] (which decides whether anything may go now and
//! which broker is next):
//! 1. Only when the one-at-a-time planner would delete a Ready broker now (so every pod is
//!    Ready and every partition in sync) is a rack considered: the rack of that broker.
//! 2. The rack's brokers that need a roll go together only if every partition keeps at least
//!    `min.insync.replicas` in-sync replicas outside the rack (single-replica partitions
//!    excepted, as in the one-at-a-time rule).
//! 3. The active controller's rack goes last: the rack is the first (by ordinal) that needs a
//!    roll and does not hold the controller; the controller's rack when no other is left.
//! 4. A broker without a rack is rolled one at a time.

use std::collections::BTreeMap;

use super::{next_action, roll_cause, AtRisk, PartitionState, RollAction, RollInput};

/// The rack planner's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RackAction {
    /// Delete these pods (one rack) now.
    DeleteRack {
        rack: String,
        pods: Vec<String>,
        remaining: usize,
    },
    /// Roll as the one-at-a-time planner says; `why` names why not a whole rack (None when
    /// there is nothing to delete now anyway).
    OneAtATime {
        action: RollAction,
        why: Option<String>,
    },
}

/// The next step of a rack-parallel roll. `racks` maps broker ids to their rack.
pub fn next_rack_action(input: &RollInput<'_>, racks: &BTreeMap<i32, String>) -> RackAction {
    let action = next_action(input);
    let single = |why: String| RackAction::OneAtATime {
        action: action.clone(),
        why: Some(why),
    };
    let RollAction::Delete { pod, .. } = &action else {
        return RackAction::OneAtATime { action, why: None };
    };
    let Some(target) = input.pods.iter().find(|p| p.name == *pod) else {
        return RackAction::OneAtATime { action, why: None };
    };
    if !target.ready {
        return single(format!("{pod} is not Ready; it goes alone"));
    }
    let needs: Vec<_> = input
        .pods
        .iter()
        .filter(|p| p.ordinal >= 0 && p.ordinal < input.desired)
        .filter(|p| roll_cause(p, input.update_revision).is_some())
        .collect();
    // Rule 3: the first rack (by ordinal) that does not hold the controller, else its rack.
    let controller_rack = input.controller.and_then(|c| racks.get(&c));
    let candidates: Vec<&String> = needs.iter().filter_map(|p| racks.get(&p.ordinal)).collect();
    let Some(rack) = candidates
        .iter()
        .find(|r| Some(**r) != controller_rack)
        .or_else(|| candidates.first())
        .copied()
    else {
        return single(format!("broker {} has no rack", target.ordinal));
    };
    let in_rack: Vec<_> = needs
        .iter()
        .filter(|p| racks.get(&p.ordinal) == Some(rack))
        .collect();
    let leaving: Vec<i32> = in_rack.iter().map(|p| p.ordinal).collect();
    let at_risk = at_risk_without_all(&leaving, input.partitions.unwrap_or_default());
    if !at_risk.is_empty() {
        return single(format!(
            "rolling rack {rack} at once would take {} below min.insync.replicas",
            at_risk
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut pods: Vec<String> = in_rack.iter().map(|p| p.name.clone()).collect();
    pods.sort();
    RackAction::DeleteRack {
        rack: rack.clone(),
        pods,
        remaining: needs.len(),
    }
}

/// Partitions that would fall below min.insync.replicas with all of `brokers` gone.
pub fn at_risk_without_all(brokers: &[i32], partitions: &[PartitionState]) -> Vec<AtRisk> {
    let mut out: Vec<AtRisk> = partitions
        .iter()
        .filter(|p| p.replicas.len() > 1 && p.isr.iter().any(|r| brokers.contains(r)))
        .filter_map(|p| {
            let remaining = p.isr.iter().filter(|r| !brokers.contains(r)).count();
            let min = usize::try_from(p.min_insync_replicas.max(1)).unwrap_or(1);
            (remaining < min).then(|| AtRisk {
                topic: p.topic.clone(),
                partition: p.partition,
                remaining_isr: remaining,
                min_insync_replicas: p.min_insync_replicas,
            })
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::super::PodState;
    use super::*;

    const NEW: &str = "new";

    fn pod(ordinal: i32, revision: &str) -> PodState {
        PodState {
            name: format!("events-{ordinal}"),
            ordinal,
            revision: Some(revision.into()),
            ready: true,
            terminating: false,
            roll_requested: false,
        }
    }

    fn part(n: i32, replicas: &[i32], min_isr: i32) -> PartitionState {
        PartitionState {
            topic: "orders".into(),
            partition: n,
            leader: replicas[0],
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            min_insync_replicas: min_isr,
        }
    }

    /// Six brokers, racks a (0, 3), b (1, 4), c (2, 5).
    fn racks() -> BTreeMap<i32, String> {
        (0..6)
            .map(|n| (n, ["a", "b", "c"][n as usize % 3].to_string()))
            .collect()
    }

    fn plan(pods: &[PodState], parts: &[PartitionState], controller: i32) -> RackAction {
        next_rack_action(
            &RollInput {
                pods,
                desired: 6,
                update_revision: NEW,
                partitions: Some(parts),
                controller: Some(controller),
            },
            &racks(),
        )
    }

    #[test]
    fn a_whole_rack_goes_at_once_when_every_partition_keeps_min_isr_outside_it() {
        let pods: Vec<_> = (0..6).map(|n| pod(n, "old")).collect();
        // Rack-aware RF 3, min.insync.replicas 2: one replica per rack.
        let parts = [part(0, &[0, 1, 2], 2), part(1, &[4, 5, 3], 2)];
        assert_eq!(
            plan(&pods, &parts, 2),
            RackAction::DeleteRack {
                rack: "a".into(),
                pods: vec!["events-0".into(), "events-3".into()],
                remaining: 6
            }
        );
    }

    #[test]
    fn a_rack_holding_two_replicas_of_a_partition_falls_back_to_one_at_a_time_saying_why() {
        let pods: Vec<_> = (0..6).map(|n| pod(n, "old")).collect();
        let parts = [part(0, &[0, 3, 1], 2)];
        let RackAction::OneAtATime { action, why } = plan(&pods, &parts, 2) else {
            panic!("rack a holds two replicas of orders-0");
        };
        assert!(matches!(action, RollAction::Delete { ref pod, .. } if pod == "events-0"));
        let why = why.expect("a reason");
        assert!(why.contains("orders-0") && why.contains("rack a"), "{why}");
    }

    #[test]
    fn the_controllers_rack_goes_last() {
        let pods: Vec<_> = (0..6).map(|n| pod(n, "old")).collect();
        let parts = [part(0, &[0, 1, 2], 2)];
        // Controller 0 is in rack a; next_action picks broker 1 (rack b) first.
        assert!(
            matches!(plan(&pods, &parts, 0), RackAction::DeleteRack { ref rack, .. } if rack == "b")
        );
        // Only racks a (with the controller) and c left: c goes, not a.
        let pods: Vec<_> = (0..6)
            .map(|n| pod(n, if n % 3 == 1 { NEW } else { "old" }))
            .collect();
        assert!(
            matches!(plan(&pods, &parts, 3), RackAction::DeleteRack { ref rack, .. } if rack == "c")
        );
    }

    #[test]
    fn nothing_goes_while_the_one_at_a_time_planner_waits() {
        let mut pods: Vec<_> = (0..6).map(|n| pod(n, "old")).collect();
        pods[4].revision = Some(NEW.into());
        pods[4].ready = false;
        let parts = [part(0, &[0, 1, 2], 2)];
        assert!(matches!(
            plan(&pods, &parts, 2),
            RackAction::OneAtATime {
                action: RollAction::Wait { .. },
                why: None
            }
        ));
    }
}
