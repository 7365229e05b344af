//! Scale planners: what must move before brokers leave (drain) and after brokers join
//! (balance). Pure: partitions and brokers in, reassignments out; the cluster reconcile
//! reports them in status and hands a drain to a [`ReassignmentExecutor`] (the brokers'
//! AlterPartitionReassignments, [`Brokers`]), one plan at a time.

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
    /// The request failed as a whole (connection, timeout, authorization).
    #[error("the brokers did not take the reassignments: {0}")]
    Request(String),
    /// Some partitions were refused (Kafka's error per partition).
    #[error("{refused} of {total} reassignments refused, e.g. {first}")]
    Refused {
        refused: usize,
        total: usize,
        first: String,
    },
}

/// The executor of a cluster: AlterPartitionReassignments and ListPartitionReassignments
/// sent to a broker, which forwards them to the active controller.
pub struct Brokers<'a>(pub &'a fjord_client::AdminClient);

impl ReassignmentExecutor for Brokers<'_> {
    async fn start(&self, moves: &[Reassignment]) -> Result<(), ExecutorError> {
        let requests: Vec<fjord_client::Reassignment> = moves
            .iter()
            .map(|m| fjord_client::Reassignment {
                topic: m.topic.clone(),
                partition: m.partition,
                replicas: Some(m.to.clone()),
            })
            .collect();
        let results = (self.0.alter_partition_reassignments(&requests).await)
            .map_err(|e| ExecutorError::Request(e.to_string()))?;
        let refused: Vec<String> = (moves.iter().zip(&results))
            .filter_map(|(m, r)| r.as_ref().err().map(|e| format!("{m}: {e}")))
            .collect();
        match refused.first() {
            None => Ok(()),
            Some(first) => Err(ExecutorError::Refused {
                refused: refused.len(),
                total: moves.len(),
                first: first.clone(),
            }),
        }
    }

    async fn in_progress(&self) -> Result<usize, ExecutorError> {
        (self.0.list_partition_reassignments(&[]).await)
            .map(|ongoing| ongoing.len())
            .map_err(|e| ExecutorError::Request(e.to_string()))
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
/// Moves are not executed here: `executor_note` says how they are being carried out (see
/// [`drain_step`]) or why they are not.
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

/// One reconcile's step of a scale-down to `to` brokers: while reassignments run, wait for
/// them; once none runs and the leaving brokers still hold replicas, start the drain's moves.
/// Returns what it did, for status.
pub async fn drain_step(
    partitions: &[PartitionState],
    brokers: &[Broker],
    to: i32,
    executor: &impl ReassignmentExecutor,
) -> String {
    let moves = match drain::drain_plan(partitions, brokers, to) {
        Ok(moves) if !moves.is_empty() => moves,
        _ => return String::new(),
    };
    match executor.in_progress().await {
        Err(e) => format!("cannot list the reassignments in progress: {e}"),
        Ok(n) if n > 0 => format!("{n} reassignment(s) in progress"),
        Ok(_) => match executor.start(&moves).await {
            Ok(()) => format!("started {} reassignment(s)", moves.len()),
            Err(e) => e.to_string(),
        },
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

    /// An executor that records what it is asked and answers `running` in progress.
    struct Recorder {
        running: usize,
        started: std::sync::Mutex<Vec<Reassignment>>,
    }

    impl ReassignmentExecutor for Recorder {
        async fn start(&self, moves: &[Reassignment]) -> Result<(), ExecutorError> {
            self.started.lock().unwrap().extend_from_slice(moves);
            Ok(())
        }
        async fn in_progress(&self) -> Result<usize, ExecutorError> {
            Ok(self.running)
        }
    }

    #[tokio::test]
    async fn a_drain_starts_its_moves_once_and_waits_while_they_run() {
        let parts = [p(0, &[0, 1]), p(1, &[3, 4]), p(2, &[4, 0])];
        let idle = Recorder {
            running: 0,
            started: Default::default(),
        };
        let note = drain_step(&parts, &brokers(5), 3, &idle).await;
        let started = idle.started.lock().unwrap().clone();
        assert_eq!(note, format!("started {} reassignment(s)", started.len()));
        assert!(
            started.iter().all(|m| m.to.iter().all(|b| *b < 3)),
            "{started:?}"
        );
        assert_eq!(started.len(), 2, "partitions 1 and 2 leave brokers 3 and 4");
        let busy = Recorder {
            running: 2,
            started: Default::default(),
        };
        let note = drain_step(&parts, &brokers(5), 3, &busy).await;
        assert_eq!(note, "2 reassignment(s) in progress");
        assert!(busy.started.lock().unwrap().is_empty());
        let empty = [p(0, &[0, 1])];
        assert_eq!(drain_step(&empty, &brokers(5), 3, &idle).await, "");
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
