//! Metadata records: every change to cluster metadata is one of these.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// One change to cluster metadata. The image is the fold of all records in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetadataRecord {
    /// The cluster was formatted with this id (the first record of every log).
    ClusterFormatted { cluster_id: String },
    /// A topic was created. `replicas[p]` lists partition p's replicas, leader first.
    TopicCreated {
        name: String,
        id: Uuid,
        replicas: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
    },
    /// Partitions were added to a topic (appended after the existing ones).
    PartitionsAdded { id: Uuid, replicas: Vec<Vec<i32>> },
    /// A topic's configuration overrides were replaced by `configs`.
    TopicConfigChanged {
        id: Uuid,
        configs: BTreeMap<String, String>,
    },
    /// A topic was deleted.
    TopicDeleted { id: Uuid },
    /// Producer ids below `next` are handed out; the next block starts there.
    ProducerIdsAllocated { next: i64 },
    /// A broker process registered (or re-registered after a restart: a new
    /// `incarnation`) and is live. `epoch` is unique per registration.
    BrokerRegistered {
        id: i32,
        epoch: i64,
        incarnation: Uuid,
        endpoints: Vec<BrokerEndpoint>,
        rack: Option<String>,
    },
    /// The broker of this registration stopped heartbeating: it is no longer live.
    BrokerFenced { id: i32, epoch: i64 },
    /// The broker of this registration heartbeats again and is live.
    BrokerUnfenced { id: i32, epoch: i64 },
    /// A partition's leader, ISR or epochs changed (Kafka's `PartitionChangeRecord`), carried
    /// as the whole new state rather than a delta so folding it needs no prior state.
    /// `leader` is -1 when the partition has none; `leader_epoch` rises with every leader
    /// change and `partition_epoch` with every change of any kind.
    ///
    /// The replica fields came later (reassignment): a record without them, as written
    /// before, leaves the replica set as it was and means no reassignment is in progress.
    /// `replicas` is the whole set during a reassignment (target and removing ones);
    /// `adding` and `removing` are Kafka's `addingReplicas` and `removingReplicas`.
    PartitionChanged {
        id: Uuid,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
        partition_epoch: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replicas: Option<Vec<i32>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        adding: Vec<i32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removing: Vec<i32>,
    },
    /// The dynamic broker configs of one resource were replaced by `configs`: the
    /// cluster-wide default (`broker: None`, Kafka's resource name "") or one broker's
    /// own (`Some(id)`). An empty map removes them all.
    BrokerConfigChanged {
        broker: Option<i32>,
        configs: BTreeMap<String, String>,
    },
    /// A user's SCRAM credential for `mechanism` (Kafka's id: 1 SHA-256, 2 SHA-512) was set.
    ScramCredentialSet {
        user: String,
        mechanism: i8,
        credential: crate::security::ScramCredential,
    },
    /// A user's SCRAM credential for `mechanism` was deleted.
    ScramCredentialDeleted { user: String, mechanism: i8 },
    /// An ACL was created.
    AclCreated { acl: crate::security::AclBinding },
    /// An ACL was deleted.
    AclDeleted { acl: crate::security::AclBinding },
}

/// One listener of a registered broker, as clients should reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
}
