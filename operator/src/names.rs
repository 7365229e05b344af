//! Names and labels of everything the operator creates for a Cluster. The chart, the docs and
//! the tests rely on these names: change them only with a migration.

use std::collections::BTreeMap;

use fjord_crds::Cluster;
use kube::ResourceExt;

/// The single server-side apply field manager of the operator.
pub const FIELD_MANAGER: &str = "fjord-operator";
/// Label naming the Cluster an object belongs to.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Label marking objects the operator manages (its owned-kind watches select on it).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Annotation on a broker pod or a Cluster that asks for a roll (value `true`).
pub const ROLL_ANNOTATION: &str = "fjord.dev/roll";
/// Finalizer that deletes the Kafka topic before its Topic resource goes.
pub const TOPIC_FINALIZER: &str = "fjord.dev/topic";
/// Pod annotation carrying a hash of the broker properties, so a config change gives the
/// StatefulSet a new revision (applied to pods by a roll).
pub const CONFIG_HASH_ANNOTATION: &str = "fjord.dev/config-hash";
/// Pod annotation naming the node label that is the broker's rack.
pub const RACK_KEY_ANNOTATION: &str = "fjord.dev/rack-topology-key";
/// Port of the (future) metadata quorum listener in `controller.quorum.voters`.
pub const QUORUM_PORT: i32 = 9093;
/// Where the broker volume is mounted.
pub const DATA_MOUNT: &str = "/var/lib/fjord";
/// `log.dirs` inside the volume (a subdirectory, so `lost+found` is not mistaken for a topic).
pub const LOG_DIR: &str = "/var/lib/fjord/data";
/// Where the ConfigMap is mounted.
pub const CONFIG_MOUNT: &str = "/etc/fjord";

/// Names of a Cluster's objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNames {
    pub cluster: String,
    pub namespace: String,
}

impl ClusterNames {
    pub fn new(cluster: &Cluster) -> Self {
        ClusterNames {
            cluster: cluster.name_any(),
            namespace: cluster.namespace().unwrap_or_default(),
        }
    }

    /// StatefulSet, PodDisruptionBudget and ServiceMonitor; pods are `<this>-<ordinal>`.
    pub fn statefulset(&self) -> String {
        self.cluster.clone()
    }
    pub fn configmap(&self) -> String {
        format!("{}-config", self.cluster)
    }
    /// Headless Service giving each broker `<pod>.<this>.<ns>.svc`.
    pub fn headless_service(&self) -> String {
        format!("{}-brokers", self.cluster)
    }
    /// ClusterIP Service clients bootstrap from.
    pub fn client_service(&self) -> String {
        format!("{}-bootstrap", self.cluster)
    }
    pub fn pdb(&self) -> String {
        self.cluster.clone()
    }
    pub fn service_monitor(&self) -> String {
        self.cluster.clone()
    }
    /// Stable DNS name of broker `ordinal`.
    pub fn broker_host(&self, ordinal: i32) -> String {
        format!(
            "{}-{ordinal}.{}.{}.svc",
            self.cluster,
            self.headless_service(),
            self.namespace
        )
    }
    /// `host:port` of the client Service.
    pub fn bootstrap_address(&self, port: i32) -> String {
        format!("{}.{}.svc:{port}", self.client_service(), self.namespace)
    }
}

/// Labels selecting a Cluster's broker pods. Immutable once a StatefulSet exists, so no version.
pub fn selector_labels(cluster: &Cluster) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "fjord".into()),
        (INSTANCE_LABEL.into(), cluster.name_any()),
        ("app.kubernetes.io/component".into(), "broker".into()),
    ])
}

/// Recommended `app.kubernetes.io/*` labels on every object of a Cluster.
pub fn labels(cluster: &Cluster) -> BTreeMap<String, String> {
    let mut l = selector_labels(cluster);
    l.insert("app.kubernetes.io/part-of".into(), "fjord".into());
    l.insert(MANAGED_BY_LABEL.into(), FIELD_MANAGER.into());
    l.insert(
        "app.kubernetes.io/version".into(),
        cluster.spec.version.clone(),
    );
    l
}

/// `key=value,...` form of a label map, as `status.selector` and label selectors want it.
pub fn selector_string(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
