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
//! - [`reassignment`]: AlterPartitionReassignments (move, grow, shrink, cancel);
//! - [`shutdown`]: controlled shutdown;
//! - [`effects`]: the partition changes that follow a liveness event.
//!
//! A deterministic simulation (`sim`, test only) drives all of them together over thousands of
//! seeds and checks the invariants after every step.
//!
//! How the broker's controller role wires it (the metadata log and image are the caller's;
//! here a `BTreeMap` stands in for the image and a counter for the log's next offset):
//!
//! ```
//! use std::collections::BTreeMap;
//! use fjord_controller::*;
//!
//! let mut next_offset = 0_i64;
//! let mut liveness = Liveness::new(LivenessConfig::default()); // broker.session.timeout.ms
//! let mut partitions: BTreeMap<(String, i32), Partition> = BTreeMap::new();
//!
//! // BrokerRegistration: the epoch is the offset of the registration record.
//! let registration = Registration {
//!     broker_id: 1,
//!     incarnation_id: 0xfeed,
//!     rack: Some("zone-a".into()),
//!     listeners: vec![],
//! };
//! let (epoch, events) = liveness.register(0, registration, next_offset).unwrap();
//! next_offset += events.len() as i64; // propose the records
//!
//! // BrokerHeartbeat: unfenced once it has applied its own registration.
//! let beat = Heartbeat {
//!     broker_id: 1,
//!     broker_epoch: epoch,
//!     current_metadata_offset: next_offset,
//!     want_fence: false,
//!     want_shutdown: false,
//! };
//! let leads = partitions.values().any(|p| p.leader == 1);
//! let (reply, events) = liveness.heartbeat(1_000, &beat, leads).unwrap();
//! assert!(!reply.is_fenced);
//! assert!(matches!(events[0], LivenessEvent::Unfenced { .. }));
//!
//! // CreateTopics: placement on the current brokers, counting the replicas already placed.
//! let cluster = liveness.cluster_view();
//! let load = Load::from_assignments(partitions.values().map(|p| &p.replicas));
//! let topic = NewTopic { num_partitions: 2, replication_factor: 1, assignments: vec![] };
//! let defaults = TopicDefaults { num_partitions: 1, replication_factor: 1 };
//! let created = create_topic(&cluster, &topic, &defaults, /* seed */ 7, &load).unwrap();
//! for (i, p) in created.into_iter().enumerate() {
//!     partitions.insert(("orders".to_string(), i as i32), p);
//! }
//!
//! // The broker stops heartbeating: the periodic tick fences it, and the partition changes
//! // for each event follow (here: leader -1, the last ISR member kept).
//! for event in liveness.tick(1_000 + DEFAULT_SESSION_TIMEOUT_MS + 1) {
//!     let cluster = liveness.cluster_view();
//!     let changes = partition_changes(
//!         &event,
//!         &cluster,
//!         partitions.iter().map(|(k, p)| (k.clone(), p)),
//!         |_topic| false, // the topic's unclean.leader.election.enable
//!     );
//!     for (key, change) in changes {
//!         let next = partitions[&key].apply(&change);
//!         partitions.insert(key, next);
//!     }
//! }
//! assert!(partitions.values().all(|p| p.leader == NO_LEADER && p.isr == vec![1]));
//! ```

pub mod alter_partition;
pub mod assignment;
pub mod cluster;
pub mod effects;
pub mod election;
pub mod error;
pub mod liveness;
pub mod partition;
pub mod placement;
pub mod reassignment;
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
    elect_leaders, elect_unclean_leaders, on_broker_unfenced, rebalance, remove_broker, Election,
    ElectionType,
};
pub use error::ControllerError;
pub use liveness::{
    BrokerRegistration, Endpoint, FenceReason, Heartbeat, HeartbeatReply, Liveness, LivenessConfig,
    LivenessEvent, Registration, DEFAULT_SESSION_TIMEOUT_MS,
};
pub use partition::{LeaderRecoveryState, Partition, PartitionChange, NO_LEADER};
pub use placement::{place, Load, PlacementRequest};
pub use reassignment::alter_reassignment;
pub use shutdown::ShutdownPlan;
