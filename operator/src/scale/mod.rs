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
