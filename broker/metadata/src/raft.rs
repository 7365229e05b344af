//! The openraft type configuration of the metadata quorum.
//!
//! Node ids are Kafka node ids (non-negative `i32`) widened to `u64`; a node's address
//! is its controller listener `host:port`. A log entry carries the records one
//! controller decision produced, so a decision is applied whole or not at all.

use crate::MetadataRecord;
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// The records of one controller decision: one Raft log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub records: Vec<MetadataRecord>,
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} metadata record(s)", self.records.len())
    }
}

openraft::declare_raft_types!(
    /// Fjord's metadata quorum types.
    pub TypeConfig:
        D = Proposal,
        R = (),
        NodeId = u64,
        Node = openraft::BasicNode,
);

pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Raft = openraft::Raft<TypeConfig>;
pub type Membership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type Snapshot = openraft::storage::Snapshot<TypeConfig>;
pub type SnapshotData = Cursor<Vec<u8>>;

/// The Raft node id of a Kafka node id (`node.id` is non-negative).
pub fn raft_id(node_id: i32) -> NodeId {
    node_id.max(0) as NodeId
}

/// The Kafka node id of a Raft node id.
pub fn kafka_id(id: NodeId) -> i32 {
    i32::try_from(id).unwrap_or(-1)
}
