//! What the metrics endpoint shows about groups: counts by state, committed offsets.

use super::state::GroupState;
use super::GroupCoordinator;

/// A point-in-time view of the coordinator for one scrape.
pub struct GroupsSnapshot {
    /// Every state with the number of groups in it (zeros included).
    pub by_state: Vec<(&'static str, usize)>,
    /// (group, topic, partition, committed offset).
    pub committed: Vec<(String, String, i32, i64)>,
}

impl GroupCoordinator {
    /// Copies what a scrape needs; holds the coordinator lock only while copying.
    pub fn snapshot(&self) -> GroupsSnapshot {
        let machine = self.machine.lock();
        let states = [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ];
        let by_state = states
            .iter()
            .map(|s| {
                (
                    s.name(),
                    machine.groups.values().filter(|g| g.is(*s)).count(),
                )
            })
            .collect();
        let committed = machine
            .groups
            .values()
            .flat_map(|g| {
                g.offsets
                    .iter()
                    .map(|((t, p), o)| (g.id.clone(), t.clone(), *p, o.offset))
            })
            .collect();
        GroupsSnapshot {
            by_state,
            committed,
        }
    }
}
