//! The classic group states and the transitions Kafka allows between them.
//!
//! ```text
//! Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//!   ▲                 ▲       │ (no members left)                  │ leader's SyncGroup
//!   └─────────────────┼───────┘                                    ▼
//!                     └──────────── join / leave / expiry ◀──── Stable
//! any ──delete / offsets expired──▶ Dead
//! ```

/// A group's state, named as Kafka names it in ListGroups and DescribeGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members; offsets may still be stored.
    Empty,
    /// Waiting for every member to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Assigned; members heartbeat.
    Stable,
    /// Removed; a request naming it sees an unknown group.
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Parses a ListGroups states filter entry (Kafka matches case-insensitively).
    pub fn parse(s: &str) -> Option<GroupState> {
        [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ]
        .into_iter()
        .find(|st| st.name().eq_ignore_ascii_case(s))
    }

    /// Kafka's `validPreviousStates`: a transition from elsewhere is a bug.
    pub fn can_follow(self, from: GroupState) -> bool {
        use GroupState::*;
        match self {
            Empty => matches!(from, PreparingRebalance),
            PreparingRebalance => matches!(from, Stable | CompletingRebalance | Empty),
            CompletingRebalance => matches!(from, PreparingRebalance),
            Stable => matches!(from, CompletingRebalance),
            Dead => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GroupState::*;
    use super::*;

    #[test]
    fn states_follow_kafkas_transition_table() {
        assert!(PreparingRebalance.can_follow(Empty));
        assert!(Stable.can_follow(CompletingRebalance));
        assert!(!Stable.can_follow(PreparingRebalance));
        assert!(!CompletingRebalance.can_follow(Stable));
        assert_eq!(GroupState::parse("stable"), Some(Stable));
        assert_eq!(GroupState::parse("nope"), None);
    }
}
