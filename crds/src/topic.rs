//! The `Topic` resource: a Kafka topic on a Fjord [`Cluster`](crate::Cluster).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Desired state of a Kafka topic.
// clippy reads the repeated `type_` of separate printcolumn(...) entries as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "fjord.dev",
    version = "v1alpha1",
    kind = "Topic",
    namespaced,
    status = "TopicStatus",
    derive = "PartialEq",
    shortname = "fjt",
    category = "fjord",
    doc = "A Kafka topic on a Fjord cluster in the same namespace.",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster"),
    printcolumn(name = "Partitions", type_ = "integer", json_path = ".spec.partitions"),
    printcolumn(
        name = "Replication",
        type_ = "integer",
        json_path = ".spec.replicationFactor",
        description = "Replication factor"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.topicName) == has(oldSelf.topicName)").message("topicName cannot be added or removed"))]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    /// Name of the Cluster, in the Topic's namespace, that holds the topic.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("cluster cannot change; create a new Topic"))]
    pub cluster: String,

    /// Kafka topic name, when it differs from `metadata.name` (Kafka allows `_` and capitals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9._-]{1,249}$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("topicName cannot change"))]
    pub topic_name: Option<String>,

    /// Number of partitions. It can grow; a decrease is refused with a condition.
    #[schemars(range(min = 1, max = 10000))]
    pub partitions: i32,

    /// Copies of each partition; at most the number of brokers.
    #[schemars(range(min = 1, max = 32767))]
    pub replication_factor: i32,

    /// Topic configs by their Kafka names (`retention.ms`, `cleanup.policy`, ...). The operator
    /// brings the broker to exactly this set: configs set on the broker by other means are reset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,

    /// What deleting this resource does to the Kafka topic.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// What deleting a Topic resource does to the Kafka topic.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the Kafka topic and its data.
    #[default]
    Delete,
    /// Keep the Kafka topic; only the resource goes.
    Retain,
}

impl Topic {
    /// The Kafka topic name: `spec.topicName`, else `metadata.name`.
    pub fn kafka_name(&self) -> String {
        self.spec
            .topic_name
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }
}

/// Observed state of a Kafka topic.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Reconciling` and `Degraded`, each with a reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,

    /// The Kafka topic name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,

    /// Topic id assigned by the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,

    /// Partitions the topic has on the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,

    /// Replicas of partition 0 on the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,

    /// Configs found on the broker with a value other than the spec's (and then corrected), since
    /// the current generation was applied. Cleared when the spec changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_drift: Vec<ConfigDrift>,
}

/// A topic config whose value on the broker differed from the spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigDrift {
    /// Config name.
    pub name: String,
    /// Value in the spec; unset when the spec does not name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<String>,
    /// Value found on the broker; unset when the broker had none set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}
