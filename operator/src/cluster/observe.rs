//! What the brokers and the broker pods say about the cluster.

use std::collections::BTreeMap;

use fjord_client::AdminClient;
use fjord_crds::cluster::BrokerStatus;
use fjord_crds::Cluster;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use crate::context::Context;
use crate::names::ROLL_ANNOTATION;
use crate::roll::{PartitionState, PodState};

/// Label the StatefulSet controller puts on each pod: the revision it was created from.
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// Label carrying a StatefulSet pod's ordinal (Kubernetes >= 1.28).
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// Kafka's default `min.insync.replicas`, for a topic whose config could not be read.
const DEFAULT_MIN_INSYNC_REPLICAS: i32 = 1;

/// Cluster facts only the brokers know.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrokerObservation {
    pub cluster_id: Option<String>,
    pub controller: Option<i32>,
    pub brokers: Vec<BrokerStatus>,
    /// Every partition (min.insync.replicas filled in only by [`with_min_insync`]); None when
    /// the topics could not be listed.
    pub partitions: Option<Vec<PartitionState>>,
}

impl BrokerObservation {
    pub fn under_replicated(&self) -> Option<i32> {
        self.partitions
            .as_ref()
            .map(|ps| ps.iter().filter(|p| p.isr.len() < p.replicas.len()).count() as i32)
    }

    pub fn offline(&self) -> Option<i32> {
        self.partitions
            .as_ref()
            .map(|ps| ps.iter().filter(|p| p.leader < 0).count() as i32)
    }
}

/// The outcome of asking every desired broker.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// Ordinals whose broker did not answer, with why.
    pub unreachable: Vec<(i32, String)>,
    /// What a broker that answered reported; None when none answered (or it failed).
    pub seen: Option<BrokerObservation>,
    /// A connection to a broker that answered, for follow-up questions.
    pub admin: Option<AdminClient>,
}

/// Connects to each of brokers `0..desired` on its own address (a broker answers when its
/// ApiVersions handshake completes), then asks one that answered for the cluster's metadata.
pub async fn probe(cluster: &Cluster, ctx: &Context) -> Probe {
    let desired = cluster.spec.replicas.max(0);
    let attempts = (0..desired).map(|n| async move { (n, ctx.broker(cluster, n).await) });
    let mut out = Probe::default();
    for (n, result) in futures::future::join_all(attempts).await {
        match result {
            Ok(admin) => {
                if out.admin.is_none() {
                    out.admin = Some(admin);
                }
            }
            Err(e) => out.unreachable.push((n, e.to_string())),
        }
    }
    if let Some(admin) = &out.admin {
        match tokio::time::timeout(ctx.broker_timeout, ask(admin)).await {
            Ok(Ok(seen)) => out.seen = Some(seen),
            Ok(Err(e)) => {
                tracing::info!(cluster = %cluster.name_any(), error = %e, "describing the cluster failed")
            }
            Err(_) => {
                tracing::info!(cluster = %cluster.name_any(), "describing the cluster timed out")
            }
        }
    }
    out
}

async fn ask(admin: &AdminClient) -> Result<BrokerObservation, fjord_client::ClientError> {
    let info = admin.describe_cluster().await?;
    let partitions = match admin.list_topics().await {
        Ok(topics) => Some(
            topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| PartitionState {
                        topic: t.name.clone(),
                        partition: p.partition,
                        leader: p.leader,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        min_insync_replicas: DEFAULT_MIN_INSYNC_REPLICAS,
                    })
                })
                .collect(),
        ),
        Err(_) => None,
    };
    let mut brokers: Vec<BrokerStatus> = info
        .brokers
        .into_iter()
        .map(|b| BrokerStatus {
            node_id: b.node_id,
            host: b.host,
            port: b.port,
            rack: b.rack,
        })
        .collect();
    brokers.sort_by_key(|b| b.node_id);
    Ok(BrokerObservation {
        cluster_id: Some(info.cluster_id).filter(|id| !id.is_empty()),
        controller: Some(info.controller_id).filter(|id| *id >= 0),
        brokers,
        partitions,
    })
}

/// Fills in each partition's `min.insync.replicas` from its topic's configs (one
/// DescribeConfigs per topic; asked only when a roll needs it). Err when a topic's configs
/// cannot be read: the roll must not guess.
pub async fn with_min_insync(
    admin: &AdminClient,
    mut partitions: Vec<PartitionState>,
) -> Result<Vec<PartitionState>, fjord_client::ClientError> {
    let mut by_topic: BTreeMap<String, i32> = BTreeMap::new();
    for p in &partitions {
        if by_topic.contains_key(&p.topic) {
            continue;
        }
        let configs = admin.describe_topic_configs(&p.topic).await?;
        let min = configs
            .iter()
            .find(|c| c.name == "min.insync.replicas")
            .and_then(|c| c.value.as_deref())
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MIN_INSYNC_REPLICAS);
        by_topic.insert(p.topic.clone(), min);
    }
    for p in &mut partitions {
        if let Some(min) = by_topic.get(&p.topic) {
            p.min_insync_replicas = *min;
        }
    }
    Ok(partitions)
}

/// The planner's view of a broker pod; None for a pod without an ordinal.
pub fn pod_state(pod: &Pod, cluster_name: &str) -> Option<PodState> {
    let name = pod.name_any();
    let ordinal = pod
        .labels()
        .get(POD_INDEX_LABEL)
        .and_then(|i| i.parse().ok())
        .or_else(|| {
            name.strip_prefix(cluster_name)?
                .strip_prefix('-')?
                .parse()
                .ok()
        })?;
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    Some(PodState {
        ordinal,
        revision: pod.labels().get(REVISION_LABEL).cloned(),
        ready,
        terminating: pod.metadata.deletion_timestamp.is_some(),
        roll_requested: roll_requested(pod.annotations()),
        name,
    })
}

/// Whether annotations carry `fjord.dev/roll=true`.
pub fn roll_requested(annotations: &BTreeMap<String, String>) -> bool {
    annotations
        .get(ROLL_ANNOTATION)
        .is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        serde_yaml::from_str(yaml).expect("test pod parses")
    }

    #[test]
    fn a_pods_ordinal_revision_readiness_and_roll_request_come_from_its_metadata_and_status() {
        let p = pod(r#"
metadata:
  name: events-2
  labels: {apps.kubernetes.io/pod-index: "2", controller-revision-hash: events-abc}
  annotations: {fjord.dev/roll: "true"}
status:
  conditions: [{type: Ready, status: "True"}]
"#);
        let s = pod_state(&p, "events").unwrap();
        assert_eq!(s.ordinal, 2);
        assert_eq!(s.revision.as_deref(), Some("events-abc"));
        assert!(s.ready);
        assert!(s.roll_requested);
        assert!(!s.terminating);
    }

    #[test]
    fn without_the_index_label_the_ordinal_comes_from_the_name() {
        let p = pod("metadata: {name: events-7, deletionTimestamp: '2026-01-01T00:00:00Z'}\n");
        let s = pod_state(&p, "events").unwrap();
        assert_eq!(s.ordinal, 7);
        assert!(!s.ready, "no Ready condition is not ready");
        assert!(s.terminating);
        assert_eq!(s.revision, None);
        assert!(pod_state(&pod("metadata: {name: other}\n"), "events").is_none());
    }

    #[test]
    fn only_true_asks_for_a_roll() {
        let mut a = BTreeMap::new();
        assert!(!roll_requested(&a));
        a.insert(ROLL_ANNOTATION.to_string(), "yes".to_string());
        assert!(!roll_requested(&a));
        a.insert(ROLL_ANNOTATION.to_string(), "true".to_string());
        assert!(roll_requested(&a));
    }
}
