//! Fjord's group coordinator state machines: KIP-848 consumer groups (the
//! `group.protocol=consumer` protocol served by ConsumerGroupHeartbeat), their
//! server-side assignors and incremental reconciliation.
//!
//! Sans-IO: no sockets, no threads, no clock. The broker hands every input in with the
//! time (`now`, milliseconds) and a [`Topics`] view of the cluster metadata, reads the
//! answer, and persists [`ConsumerGroup::snapshot`] when [`ConsumerGroup::take_dirty`]
//! says the group changed. Timers are deadlines the caller asks for
//! ([`ConsumerGroup::next_deadline`]) and fires with [`ConsumerGroup::tick`].
//!
//! The shape follows Kafka 4.x's `GroupMetadataManager` (heartbeat, leave, timers),
//! `ConsumerGroup` (epochs, partition ownership), `TargetAssignmentBuilder` (the
//! assignor's output becomes the target at the group epoch) and
//! `CurrentAssignmentBuilder` (a member moves towards its target one safe step at a
//! time: partitions are revoked before anyone else is given them).
//!
//! The classic (JoinGroup/SyncGroup) coordinator of classic groups still lives in
//! `fjord-broker`; classic members *inside* a consumer group (online migration) are
//! here (`classic.rs`).

pub mod assignment;
pub mod assignor;
mod classic;
#[cfg(test)]
mod classic_tests;
mod error;
pub mod group;
mod heartbeat;
pub mod member;
mod migration;
mod offsets;
mod reconcile;
pub mod snapshot;
pub mod subscription;

pub use assignment::{Assignment, TopicId};
pub use assignor::Assignor;
pub use classic::{ClassicJoin, ClassicJoined, ClassicMember};
pub use error::GroupError;
pub use group::{ConsumerGroup, ConsumerGroupState, GroupConfig};
pub use heartbeat::{validate, HeartbeatRequest, HeartbeatResponse};
pub use member::{ConsumerMember, MemberState};
pub use migration::{ClassicImport, MigrationPolicy};
pub use subscription::Topics;

/// Member epoch of a heartbeat that leaves the group.
pub const LEAVE_EPOCH: i32 = -1;
/// Member epoch of a static member's heartbeat that leaves for now (it will rejoin).
pub const LEAVE_STATIC_EPOCH: i32 = -2;
