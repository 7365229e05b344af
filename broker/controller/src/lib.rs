//! `fjord-controller`: the active controller's decisions for a Fjord cluster, as deterministic
//! state machines with no I/O, no clock and no async (DESIGN.md §3, "Cluster metadata").
//!
//! The caller (the broker's controller role, on top of the metadata quorum) owns the metadata
//! image and the log. It feeds requests, heartbeats and the time in; it gets back decisions: the
//! records to propose (as [`PartitionChange`]s and [`LivenessEvent`]s) and the answers, with
//! Kafka error codes ([`ControllerError::code`]). Each module follows the Kafka class named in
//! its doc, with the same checks in the same order:
//!
//! - [`placement`] / [`assignment`]: replicas for CreateTopics and CreatePartitions (balanced,
//!   rack-aware, manual assignments validated);
//! - [`liveness`]: BrokerRegistration, BrokerHeartbeat, session expiry, fencing;
//! - [`election`]: leader election and ISR changes on fencing and unfencing, ElectLeaders,
//!   automatic preferred-leader rebalancing;
//! - [`alter_partition`](mod@alter_partition): AlterPartition from partition leaders;
//! - [`shutdown`]: controlled shutdown;
//! - [`effects`]: the partition changes that follow a liveness event.
//!
//! A deterministic simulation (`sim`, test only) drives all of them together over thousands of
//! seeds and checks the invariants after every step.

pub mod alter_partition;
pub mod assignment;
pub mod cluster;
pub mod effects;
pub mod election;
pub mod error;
pub mod liveness;
pub mod partition;
pub mod placement;
pub mod shutdown;

#[cfg(test)]
mod sim;

pub use alter_partition::{
    alter_partition, AlterPartitionOutcome, AlterPartitionRequest, IsrMember,
};
pub use assignment::{create_partitions, create_topic, NewTopic, TopicDefaults};
pub use cluster::{BrokerInfo, ClusterView};
pub use effects::partition_changes;
pub use election::{
    elect_leaders, on_broker_unfenced, rebalance, remove_broker, Election, ElectionType,
};
pub use error::ControllerError;
pub use liveness::{
    BrokerRegistration, Endpoint, FenceReason, Heartbeat, HeartbeatReply, Liveness, LivenessConfig,
    LivenessEvent, Registration,
};
pub use partition::{LeaderRecoveryState, Partition, PartitionChange, NO_LEADER};
pub use placement::{place, Load, PlacementRequest};
pub use shutdown::ShutdownPlan;
