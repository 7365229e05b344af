//! What the brokers themselves say about the cluster.

use fjord_client::AdminClient;
use fjord_crds::cluster::BrokerStatus;
use fjord_crds::Cluster;
use kube::ResourceExt;

use crate::context::Context;

/// Cluster facts only the brokers know.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrokerObservation {
    pub cluster_id: Option<String>,
    pub controller: Option<i32>,
    pub brokers: Vec<BrokerStatus>,
    /// None when the topics could not be listed.
    pub under_replicated_partitions: Option<i32>,
}

/// Asks the brokers; None when they cannot be reached (status then leaves these facts unset
/// rather than guessing).
pub async fn brokers(cluster: &Cluster, ctx: &Context) -> Option<BrokerObservation> {
    let admin = match ctx.admin(cluster).await {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(cluster = %cluster.name_any(), error = %e, "brokers not reachable");
            return None;
        }
    };
    let timeout = ctx.broker_timeout;
    match tokio::time::timeout(timeout, ask(&admin)).await {
        Ok(Ok(seen)) => Some(seen),
        Ok(Err(e)) => {
            tracing::info!(cluster = %cluster.name_any(), error = %e, "describing cluster failed");
            None
        }
        Err(_) => None,
    }
}

async fn ask(admin: &AdminClient) -> Result<BrokerObservation, fjord_client::ClientError> {
    let info = admin.describe_cluster().await?;
    let under_replicated = match admin.list_topics().await {
        Ok(topics) => Some(
            topics
                .iter()
                .flat_map(|t| &t.partitions)
                .filter(|p| p.isr.len() < p.replicas.len())
                .count() as i32,
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
        under_replicated_partitions: under_replicated,
    })
}
