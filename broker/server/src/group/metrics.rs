//! What the metrics endpoint shows about groups: counts by state, committed offsets.
//! Read shard by shard under each shard's lock, without copying the offsets. Classic
//! and KIP-848 consumer groups share the Empty and Stable names; Assigning and
//! Reconciling are consumer groups' own.

use super::GroupCoordinator;

const STATES: [&str; 7] = [
    "Empty",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Assigning",
    "Reconciling",
];

impl GroupCoordinator {
    /// Every state with the number of groups in it (zeros included).
    pub fn count_by_state(&self) -> Vec<(&'static str, usize)> {
        let mut counts = [0usize; STATES.len()];
        self.visit(|c| {
            for state in c.states() {
                if let Some(i) = STATES.iter().position(|s| *s == state) {
                    counts[i] += 1;
                }
            }
        });
        STATES.into_iter().zip(counts).collect()
    }

    /// Calls `f(group, topic, partition, committed offset)` for every committed
    /// offset. `f` runs under a shard's lock: it must be quick and must not call
    /// back into the coordinator.
    pub fn for_each_committed(&self, mut f: impl FnMut(&str, &str, i32, i64)) {
        self.visit(|c| {
            for (g, t, p, o) in c.committed() {
                f(g, t, p, o);
            }
        });
    }
}
