//! The `Cluster` resource: a set of Fjord brokers run as one StatefulSet.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Kafka listener port used when `spec.listener.port` is not set.
pub const DEFAULT_KAFKA_PORT: i32 = 9092;
/// Metrics and health HTTP port used when `spec.metrics.port` is not set.
pub const DEFAULT_METRICS_PORT: i32 = 9404;

/// Desired state of a Fjord cluster.
// clippy reads the repeated `type_` of separate printcolumn(...) entries as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "fjord.dev",
    version = "v1alpha1",
    kind = "Cluster",
    namespaced,
    status = "ClusterStatus",
    derive = "PartialEq",
    shortname = "fjc",
    category = "fjord",
    doc = "A Fjord cluster: Kafka-compatible brokers run by the Fjord operator.",
    validation = Rule::new("size(self.metadata.name) <= 52").message("a Cluster name has at most 52 characters (pod names and their revision labels must fit in 63)"),
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.readyBrokers",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyBrokers", description = "Brokers passing their readiness probe"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.replicas", description = "Brokers asked for"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version", description = "Fjord broker version"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status", description = "Ready condition"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "What the operator is doing: Pending, ScalingUp, Rolling, RollBlocked, Draining, Degraded, Ready or Failed"),
    printcolumn(name = "Controller", type_ = "integer", json_path = ".status.controller", description = "Node id of the active controller", priority = 1),
    printcolumn(name = "Under-Replicated", type_ = "integer", json_path = ".status.underReplicatedPartitions", description = "Partitions with fewer in-sync replicas than replicas", priority = 1),
    printcolumn(name = "Offline", type_ = "integer", json_path = ".status.offlinePartitions", description = "Partitions without a leader", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("self.listener.port != self.metrics.port").message("listener.port and metrics.port must differ"))]
#[x_kube(validation = Rule::new("!self.metrics.serviceMonitor.enabled || self.metrics.enabled").message("metrics.serviceMonitor.enabled needs metrics.enabled"))]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Number of brokers. Pod `<cluster>-<n>` runs broker `node.id=<n>`.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1, max = 100))]
    pub replicas: i32,

    /// Fjord broker version, e.g. `0.1.0`. Selects the image tag unless `image` is set, and is
    /// the `app.kubernetes.io/version` label (so it must be a valid label value).
    #[schemars(regex(pattern = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"))]
    pub version: String,

    /// Full image reference overriding the operator's default repository and `version` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub image: Option<String>,

    /// Image pull policy of the broker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,

    /// Persistent storage of each broker.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.size == oldSelf.size").message("storage.size cannot change after creation"))]
    #[x_kube(validation = Rule::new("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)").message("storage.storageClassName cannot change after creation"))]
    pub storage: StorageSpec,

    /// CPU and memory of the broker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Broker properties by their Kafka names (`num.partitions`, `log.retention.ms`, ...).
    /// Unknown keys, and keys the operator sets itself (`listeners`, `node.id`, `log.dirs`, ...),
    /// are refused with a Degraded condition.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,

    /// Spread brokers and replicas across failure domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<RackSpec>,

    /// The Kafka listener clients connect to.
    #[serde(default)]
    pub listener: ListenerSpec,

    /// Prometheus metrics of the brokers.
    #[serde(default)]
    pub metrics: MetricsSpec,

    /// Scheduling and metadata overrides applied to every broker pod.
    #[serde(default)]
    pub pod_template: PodTemplateOverrides,

    /// How brokers are restarted when their pod template changes.
    #[serde(default, skip_serializing_if = "RolloutSpec::is_default")]
    pub rollout: RolloutSpec,
}

/// How a roll proceeds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// `OneAtATime` (default): one broker at a time, each only when every partition it holds
    /// keeps `min.insync.replicas` without it. `RackParallel`: a whole rack at once when every
    /// partition keeps `min.insync.replicas` outside that rack (needs `rack`); otherwise one at
    /// a time, with the reason in status.
    #[serde(default)]
    pub strategy: RolloutStrategy,
}

impl RolloutSpec {
    fn is_default(&self) -> bool {
        *self == RolloutSpec::default()
    }
}

/// The order of a roll.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RolloutStrategy {
    #[default]
    OneAtATime,
    RackParallel,
}

fn default_replicas() -> i32 {
    3
}

/// When Kubernetes pulls the broker image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// The value Kubernetes expects in `imagePullPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// Persistent volume of each broker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Size of each broker's volume.
    #[serde(default = "default_storage_size")]
    pub size: Quantity,

    /// StorageClass of the volumes; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,

    /// What happens to the volumes when the Cluster is deleted or scaled down.
    #[serde(default)]
    pub retention: VolumeRetention,
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            size: default_storage_size(),
            storage_class_name: None,
            retention: VolumeRetention::default(),
        }
    }
}

fn default_storage_size() -> Quantity {
    Quantity("10Gi".into())
}

/// Fate of broker volumes, mapped onto the StatefulSet's `persistentVolumeClaimRetentionPolicy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeRetention {
    /// When the Cluster is deleted. `Retain` (default) keeps the data for a later cluster.
    #[serde(default)]
    pub when_deleted: RetentionPolicy,
    /// When brokers are removed by scaling down. `Retain` (default) keeps their data.
    #[serde(default)]
    pub when_scaled: RetentionPolicy,
}

/// Keep or delete a volume.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RetentionPolicy {
    #[default]
    Retain,
    Delete,
}

impl RetentionPolicy {
    /// The value Kubernetes expects.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionPolicy::Retain => "Retain",
            RetentionPolicy::Delete => "Delete",
        }
    }
}

/// Rack awareness: brokers learn their rack from a node label and replicas are spread across racks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RackSpec {
    /// Node label whose value is the broker's rack, e.g. `topology.kubernetes.io/zone`.
    #[schemars(length(min = 1, max = 316))]
    pub topology_key: String,
}

/// The Kafka listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerSpec {
    /// Port of the PLAINTEXT listener on every broker and on the bootstrap Service.
    #[serde(default = "default_kafka_port")]
    #[schemars(range(min = 1024, max = 65535))]
    pub port: i32,
}

impl Default for ListenerSpec {
    fn default() -> Self {
        ListenerSpec {
            port: default_kafka_port(),
        }
    }
}

fn default_kafka_port() -> i32 {
    DEFAULT_KAFKA_PORT
}

/// Broker metrics. The HTTP port always runs: the probes use its `/livez` and `/readyz`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Advertise `/metrics` for scraping (pod annotations and a named port on the Services).
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// Port of the metrics and health HTTP server.
    #[serde(default = "default_metrics_port")]
    #[schemars(range(min = 1024, max = 65535))]
    pub port: i32,

    /// A prometheus-operator ServiceMonitor for the brokers.
    #[serde(default)]
    pub service_monitor: ServiceMonitorSpec,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        MetricsSpec {
            enabled: true,
            port: default_metrics_port(),
            service_monitor: ServiceMonitorSpec::default(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_metrics_port() -> i32 {
    DEFAULT_METRICS_PORT
}

/// A prometheus-operator ServiceMonitor. Its CRD must be installed; when it is not, the Cluster
/// reports a condition and carries on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// Create the ServiceMonitor.
    #[serde(default)]
    pub enabled: bool,

    /// Scrape interval, e.g. `30s`; Prometheus' default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)$"))]
    pub interval: Option<String>,

    /// Extra labels on the ServiceMonitor, e.g. the one your Prometheus selects on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Overrides applied to every broker pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateOverrides {
    /// Extra pod annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,

    /// Extra pod labels. The operator's own `app.kubernetes.io/*` labels win on conflict.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,

    /// Pod affinity and anti-affinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Pod tolerations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,

    /// Node selector.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// PriorityClass of the broker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,

    /// Seconds a broker gets to shut down cleanly after SIGTERM (flush, clean-shutdown marker)
    /// before it is killed. Defaults to 120.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30, max = 3600))]
    pub termination_grace_period_seconds: Option<i64>,
}

/// Observed state of a Fjord cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Reconciling`, `Degraded`, `Rolling`, `ScalingUp` and `Draining`, each with a
    /// reason and a message naming what blocks progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,

    /// One word for `kubectl get`: Pending, ScalingUp, Rolling, RollBlocked, Draining,
    /// Degraded, Ready, or Failed (the spec is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,

    /// Brokers the spec asks for (`spec.replicas` of the generation last applied).
    #[serde(default)]
    pub desired_brokers: i32,

    /// Broker pods running the StatefulSet's update revision (roll progress).
    #[serde(default)]
    pub updated_brokers: i32,

    /// Broker pods that exist (StatefulSet `status.replicas`).
    #[serde(default)]
    pub replicas: i32,

    /// Broker pods passing their readiness probe.
    #[serde(default)]
    pub ready_brokers: i32,

    /// Label selector of the broker pods, for the `/scale` subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// `host:port` clients bootstrap from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,

    /// Cluster id reported by the brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,

    /// Brokers registered in the cluster metadata, as the brokers report them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<BrokerStatus>,

    /// Node id of the active controller, as the brokers report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<i32>,

    /// Node ids of the metadata quorum's voters (`controller.quorum.voters`). Chosen when the
    /// Cluster is created (1 voter below 3 brokers, 3 from 3 brokers, 5 from 9) and kept
    /// across scaling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quorum_voters: Vec<i32>,

    /// Partitions whose ISR is smaller than their replica set; unset when the brokers could not
    /// be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_replicated_partitions: Option<i32>,

    /// Partitions without a leader; unset when the brokers could not be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_partitions: Option<i32>,

    /// StatefulSet revision the running pods were created from. With `OnDelete` updates a pod
    /// only moves to `updateRevision` when the operator deletes it during a roll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<String>,

    /// StatefulSet revision of the current spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_revision: Option<String>,
}

/// One broker as registered in the cluster metadata.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerStatus {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
}
