//! Which brokers are metadata-quorum voters, and how a scale changes that (it does not).
//!
//! How many voters a cluster of N brokers has, following Kafka practice:
//! - N < 3: one voter (pod 0). A one-voter quorum is not highly available: while pod 0 is
//!   down (a roll, a crash) no metadata changes, no leader elections, no new topics.
//! - 3 <= N < [`LARGE_CLUSTER`]: three voters, which survive the loss of one.
//! - N >= [`LARGE_CLUSTER`]: five voters, which survive the loss of two (a roll plus a failure).
//!
//! Voters are the lowest ordinals, so a scale-down (which removes the highest ordinals) never
//! removes a voter unless it goes below the voter count. The voter set is chosen when the
//! Cluster is first rendered and then kept: it is read back from the ConfigMap the brokers run
//! with, so scaling 3 -> 5 (or 3 -> 9) never rewrites `controller.quorum.voters` of existing
//! brokers. Growing or shrinking the voter set needs the dynamic quorum (KIP-853
//! AddRaftVoter/RemoveRaftVoter), which the broker does not serve yet.

use std::collections::BTreeSet;

use crate::names::{ClusterNames, QUORUM_PORT};

/// From this many brokers a new cluster gets five voters instead of three.
pub const LARGE_CLUSTER: i32 = 9;

/// Whether `fjord-broker` runs broker-only nodes (`process.roles=broker`, not in
/// `controller.quorum.voters`; it does: they follow the metadata log as observers). Were it
/// not to, a Cluster with more brokers than voters would be refused with a condition instead
/// of crash-looping its non-voter pods. A test (`operator/tests/broker_accepts_properties.rs`)
/// loads a non-voter's properties through the broker's own configuration loader and fails
/// when this disagrees with the broker.
pub const BROKER_ONLY_NODES: bool = true;

/// Voters a new cluster of `brokers` brokers gets.
pub fn voter_count(brokers: i32) -> i32 {
    match brokers {
        ..3 => 1,
        3..LARGE_CLUSTER => 3,
        _ => 5,
    }
}

/// The metadata quorum of a Cluster: the node ids (= pod ordinals) of its voters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    pub voters: BTreeSet<i32>,
}

/// Why the quorum cannot serve a number of brokers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuorumProblem {
    /// More brokers than voters, and the broker does not run broker-only nodes.
    BrokerOnlyNodesUnsupported { brokers: i32, voters: usize },
    /// Scaling down would remove voters (removing voters needs RemoveRaftVoter).
    WouldRemoveVoters { brokers: i32, removed: Vec<i32> },
}

impl QuorumProblem {
    pub fn message(&self) -> String {
        match self {
            QuorumProblem::BrokerOnlyNodesUnsupported { brokers, voters } => format!(
                "{brokers} brokers with {voters} quorum voter(s) needs {} broker-only node(s) \
                 (process.roles=broker), which fjord-broker does not run yet; use {voters} \
                 broker(s), or 3 for a highly available quorum",
                *brokers as usize - voters
            ),
            QuorumProblem::WouldRemoveVoters { brokers, removed } => format!(
                "scaling to {brokers} broker(s) would remove quorum voter(s) {}: removing voters \
                 needs the dynamic quorum (RemoveRaftVoter), which fjord-broker does not serve yet",
                removed
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl Quorum {
    /// The quorum for `brokers` brokers: the voters already rendered (`existing`, from the
    /// ConfigMap) when there are any, else the lowest [`voter_count`] ordinals.
    pub fn new(brokers: i32, existing: Option<BTreeSet<i32>>) -> Quorum {
        match existing {
            Some(voters) if !voters.is_empty() => Quorum { voters },
            _ => Quorum {
                voters: (0..voter_count(brokers)).collect(),
            },
        }
    }

    pub fn is_voter(&self, ordinal: i32) -> bool {
        self.voters.contains(&ordinal)
    }

    /// Whether this quorum can serve `brokers` brokers today.
    pub fn problem(&self, brokers: i32) -> Option<QuorumProblem> {
        let removed: Vec<i32> = self
            .voters
            .iter()
            .copied()
            .filter(|v| *v >= brokers)
            .collect();
        if !removed.is_empty() {
            return Some(QuorumProblem::WouldRemoveVoters { brokers, removed });
        }
        if !BROKER_ONLY_NODES && (0..brokers).any(|n| !self.is_voter(n)) {
            return Some(QuorumProblem::BrokerOnlyNodesUnsupported {
                brokers,
                voters: self.voters.len(),
            });
        }
        None
    }

    /// `controller.quorum.voters`: `id@<pod DNS name>:<quorum port>,...`.
    pub fn voters_property(&self, names: &ClusterNames) -> String {
        self.voters
            .iter()
            .map(|n| format!("{n}@{}:{QUORUM_PORT}", names.broker_host(*n)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The voter ids named by a `controller.quorum.voters=` line of a rendered properties
    /// file; None when there is no such line or it does not parse.
    pub fn parse_voters(properties: &str) -> Option<BTreeSet<i32>> {
        let line = properties
            .lines()
            .find_map(|l| l.strip_prefix("controller.quorum.voters="))?;
        line.split(',')
            .filter(|e| !e.trim().is_empty())
            .map(|e| e.split_once('@').and_then(|(id, _)| id.trim().parse().ok()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[i32]) -> BTreeSet<i32> {
        v.iter().copied().collect()
    }

    #[test]
    fn small_clusters_get_one_voter_three_from_three_brokers_five_when_large() {
        assert_eq!(voter_count(1), 1);
        assert_eq!(voter_count(2), 1);
        assert_eq!(voter_count(3), 3);
        assert_eq!(voter_count(LARGE_CLUSTER - 1), 3);
        assert_eq!(voter_count(LARGE_CLUSTER), 5);
        assert_eq!(Quorum::new(3, None).voters, ids(&[0, 1, 2]));
        assert_eq!(Quorum::new(12, None).voters, ids(&[0, 1, 2, 3, 4]));
    }

    #[test]
    fn scaling_keeps_the_voters_already_rendered() {
        let q = Quorum::new(5, Some(ids(&[0, 1, 2])));
        assert_eq!(q.voters, ids(&[0, 1, 2]));
        let q = Quorum::new(LARGE_CLUSTER, Some(ids(&[0, 1, 2])));
        assert_eq!(q.voters, ids(&[0, 1, 2]), "no voter is added by a scale");
    }

    #[test]
    fn scaling_below_the_voters_is_a_problem() {
        let q = Quorum::new(3, None);
        assert_eq!(
            q.problem(1),
            Some(QuorumProblem::WouldRemoveVoters {
                brokers: 1,
                removed: vec![1, 2]
            })
        );
        assert_eq!(q.problem(3), None);
    }

    #[test]
    fn non_voters_are_refused_while_the_broker_runs_only_combined_nodes() {
        let q = Quorum::new(5, Some(ids(&[0, 1, 2])));
        let p = q.problem(5);
        assert_eq!(p.is_some(), !BROKER_ONLY_NODES);
        if let Some(p) = p {
            assert!(
                p.message().contains("2 broker-only node(s)"),
                "{}",
                p.message()
            );
        }
        assert_eq!(
            Quorum::new(2, None).problem(2).is_some(),
            !BROKER_ONLY_NODES
        );
    }

    #[test]
    fn voters_are_read_back_from_a_rendered_file() {
        let p = "listeners=x\ncontroller.quorum.voters=0@a:9093,1@b:9093,2@c:9093\n";
        assert_eq!(Quorum::parse_voters(p), Some(ids(&[0, 1, 2])));
        assert_eq!(Quorum::parse_voters("listeners=x\n"), None);
        assert_eq!(
            Quorum::parse_voters("controller.quorum.voters=x@a:1\n"),
            None
        );
    }
}
