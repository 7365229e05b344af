//! Server-side assignors (KIP-848): the coordinator, not a client, decides who gets
//! which partition. Both are deterministic: the same input gives the same output, so
//! a replayed group and the simulation reproduce exactly.

mod range;
mod uniform;

use crate::assignment::{Assignment, TopicId};
use std::collections::{BTreeMap, BTreeSet};

/// What an assignor sees: the members' subscriptions resolved to existing topics, the
/// partition counts, and the current target (for stickiness).
#[derive(Debug, Clone, Copy)]
pub struct AssignmentSpec<'a> {
    /// Member id -> the ids of the existing topics it subscribes to.
    pub members: &'a BTreeMap<String, BTreeSet<TopicId>>,
    /// Topic id -> number of partitions.
    pub topics: &'a BTreeMap<TopicId, i32>,
    /// The target assignment being replaced, by member id.
    pub current: &'a BTreeMap<String, Assignment>,
}

/// The assignors a broker can run (`group.consumer.assignors`, a member's `ServerAssignor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Assignor {
    /// Kafka's `UniformAssignor`: balanced, sticky; members may subscribe differently.
    Uniform,
    /// Kafka's `RangeAssignor`: per topic, balanced ranges in member-id order, so
    /// co-partitioned topics land together; sticky (members keep what they held up
    /// to their quota).
    Range,
}

impl Assignor {
    /// The name clients send in `ServerAssignor` and ConsumerGroupDescribe shows.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => "uniform",
            Assignor::Range => "range",
        }
    }

    /// A name from a request or the broker's config: the short names, or Kafka's class
    /// names so a `server.properties` written for Kafka still works.
    pub fn parse(name: &str) -> Option<Assignor> {
        match name.trim() {
            "uniform" | "org.apache.kafka.coordinator.group.assignor.UniformAssignor" => {
                Some(Assignor::Uniform)
            }
            "range" | "org.apache.kafka.coordinator.group.assignor.RangeAssignor" => {
                Some(Assignor::Range)
            }
            _ => None,
        }
    }

    /// Computes a new target assignment: every member appears in the result (possibly
    /// with nothing), and each partition of a subscribed topic goes to exactly one
    /// member that subscribes to its topic.
    pub fn assign(self, spec: AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
        match self {
            Assignor::Uniform => uniform::assign(spec),
            Assignor::Range => range::assign(spec),
        }
    }
}

#[cfg(test)]
mod tests;
