//! Scale planners: what must move before brokers leave (drain) and after brokers join
//! (balance). Pure: partitions and brokers in, reassignments out; the cluster reconcile
//! reports them in status and hands them to a [`ReassignmentExecutor`].
//!
//! Executing a plan needs Kafka's AlterPartitionReassignments (API 45) and
//! ListPartitionReassignments (API 46) on the broker, which fjord-broker does not serve yet;
//! [`NotServed`] is the executor until it does, so a scale-down stays refused and a scale-up
//! leaves the new brokers empty, each with a condition saying so.

pub mod balance;
pub mod drain;

use std::collections::BTreeMap;
use std::fmt;

use crate::assignment::Broker;
use crate::roll::PartitionState;

/// One partition's new replica list (the first replica is the preferred leader).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reassignment {
    pub topic: String,
    pub partition: i32,
    pub from: Vec<i32>,
    pub to: Vec<i32>,
}

impl fmt::Display for Reassignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{} {:?} -> {:?}",
            self.topic, self.partition, self.from, self.to
        )
    }
}

/// Carries out reassignments on the brokers.
pub trait ReassignmentExecutor {
    /// Starts the reassignments (AlterPartitionReassignments).
    fn start(
        &self,
        moves: &[Reassignment],
    ) -> impl std::future::Future<Output = Result<(), ExecutorError>> + Send;
    /// Reassignments still in progress (ListPartitionReassignments).
    fn in_progress(&self)
        -> impl std::future::Future<Output = Result<usize, ExecutorError>> + Send;
}

/// Why reassignments could not be carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecutorError {
    #[error("the brokers do not serve {0}; partitions cannot be moved yet")]
    NotServed(&'static str),
}

/// The executor while fjord-broker lacks AlterPartitionReassignments.
#[derive(Clone, Copy, Debug, Default)]
pub struct NotServed;

impl ReassignmentExecutor for NotServed {
    async fn start(&self, _moves: &[Reassignment]) -> Result<(), ExecutorError> {
        Err(ExecutorError::NotServed(
            "AlterPartitionReassignments (API 45)",
        ))
    }
    async fn in_progress(&self) -> Result<usize, ExecutorError> {
        Err(ExecutorError::NotServed(
            "ListPartitionReassignments (API 46)",
        ))
    }
}

/// Replicas and leaderships per broker (brokers without any included).
pub(crate) fn load(
    brokers: &[Broker],
    partitions: &BTreeMap<(String, i32), Vec<i32>>,
) -> BTreeMap<i32, (usize, usize)> {
    let mut out: BTreeMap<i32, (usize, usize)> = brokers.iter().map(|b| (b.id, (0, 0))).collect();
    for replicas in partitions.values() {
        for (i, r) in replicas.iter().enumerate() {
            if let Some(e) = out.get_mut(r) {
                e.0 += 1;
                if i == 0 {
                    e.1 += 1;
                }
            }
        }
    }
    out
}

/// The replica lists of `partitions`, by (topic, partition).
pub(crate) fn replica_map(partitions: &[PartitionState]) -> BTreeMap<(String, i32), Vec<i32>> {
    partitions
        .iter()
        .map(|p| ((p.topic.clone(), p.partition), p.replicas.clone()))
        .collect()
}

pub(crate) fn rack_of(brokers: &[Broker], id: i32) -> Option<&str> {
    brokers
        .iter()
        .find(|b| b.id == id)
        .and_then(|b| b.rack.as_deref())
}

/// What the scale planners say in this reconcile, for status and for how many brokers the
/// StatefulSet keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleState {
    /// No scale in progress, or the leaving brokers are empty: apply `spec.replicas`.
    Steady,
    /// A scale-down that cannot happen: keep every broker.
    DrainRefused(drain::ScaleDownRefusal),
    /// A scale-down waiting for its drain: keep every broker until the moves are done.
    Draining { moves: usize, why: String },
    /// Partitions should move onto new brokers.
    Balancing { moves: usize, why: String },
}

impl ScaleState {
    /// Whether the StatefulSet must keep its current size instead of shrinking.
    pub fn holds_brokers(&self) -> bool {
        matches!(
            self,
            ScaleState::DrainRefused(_) | ScaleState::Draining { .. }
        )
    }
}

/// The scale state of a cluster running `running` brokers whose spec asks for `desired`.
/// Moves are not executed here: `executor_note` says why they are not being carried out
/// (while the broker lacks AlterPartitionReassignments), or None once they are.
pub fn assess(
    partitions: Option<&[PartitionState]>,
    brokers: &[Broker],
    running: i32,
    desired: i32,
    executor_note: Option<&str>,
) -> ScaleState {
    let not_executed = executor_note.map(|n| format!("; {n}")).unwrap_or_default();
    if desired < running {
        let Some(partitions) = partitions else {
            return ScaleState::Draining {
                moves: 0,
                why: "waiting for the brokers to report their partitions before draining".into(),
            };
        };
        return match drain::drain_plan(partitions, brokers, desired) {
            Err(refusal) => ScaleState::DrainRefused(refusal),
            Ok(moves) if moves.is_empty() => ScaleState::Steady,
            Ok(moves) => ScaleState::Draining {
                moves: moves.len(),
                why: format!(
                    "{} partitions must move off brokers {desired}..{}{not_executed}",
                    moves.len(),
                    running - 1
                ),
            },
        };
    }
    let Some(partitions) = partitions else {
        return ScaleState::Steady;
    };
    let moves = balance::balance_plan(partitions, brokers, balance::DEFAULT_TOLERANCE);
    if moves.is_empty() {
        return ScaleState::Steady;
    }
    ScaleState::Balancing {
        moves: moves.len(),
        why: format!(
            "{} partition moves would balance replicas and leaders over {} brokers{not_executed}",
            moves.len(),
            brokers.len()
        ),
    }
}

/// Partitions and brokers for the planners' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub(crate) fn p(topic: &str, n: i32, replicas: &[i32]) -> PartitionState {
        PartitionState {
            topic: topic.into(),
            partition: n,
            leader: replicas[0],
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            min_insync_replicas: 1,
        }
    }

    pub(crate) fn brokers(racks: &[&str]) -> Vec<Broker> {
        racks
            .iter()
            .enumerate()
            .map(|(i, r)| Broker {
                id: i as i32,
                rack: (!r.is_empty()).then(|| r.to_string()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i32, replicas: &[i32]) -> PartitionState {
        PartitionState {
            topic: "orders".into(),
            partition: n,
            leader: replicas[0],
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            min_insync_replicas: 1,
        }
    }

    fn brokers(n: i32) -> Vec<Broker> {
        (0..n).map(|id| Broker { id, rack: None }).collect()
    }

    #[test]
    fn a_refused_or_unfinished_drain_holds_every_broker() {
        let parts = [p(0, &[0, 1, 2]), p(1, &[3, 4, 0])];
        let refused = assess(Some(&parts), &brokers(5), 5, 2, Some("x"));
        assert!(matches!(refused, ScaleState::DrainRefused(_)));
        assert!(refused.holds_brokers());
        let draining = assess(Some(&parts), &brokers(5), 5, 3, Some("not served"));
        assert!(
            matches!(&draining, ScaleState::Draining { moves: 1, why } if why.contains("not served")),
            "{draining:?}"
        );
        assert!(draining.holds_brokers());
        assert!(assess(None, &brokers(5), 5, 3, None).holds_brokers());
    }

    #[test]
    fn empty_leaving_brokers_let_the_statefulset_shrink() {
        let parts = [p(0, &[0, 1, 2])];
        assert_eq!(
            assess(Some(&parts), &brokers(5), 5, 3, None),
            ScaleState::Steady
        );
    }

    #[test]
    fn new_empty_brokers_are_reported_as_unbalanced() {
        let parts: Vec<_> = (0..6).map(|n| p(n, &[n % 3])).collect();
        let s = assess(Some(&parts), &brokers(5), 5, 5, Some("not served"));
        assert!(matches!(s, ScaleState::Balancing { .. }), "{s:?}");
        assert!(!s.holds_brokers());
    }
}
