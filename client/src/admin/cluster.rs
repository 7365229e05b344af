//! DescribeCluster, with Metadata as the fallback for brokers that do not serve it.

use kafka_protocol::messages::{ApiKey, DescribeClusterRequest, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::{Message, VersionRange};

use super::{from_version, AdminClient, Retry};
use crate::codes::code;
use crate::{BrokerInfo, ClientError, ClusterInfo};

impl AdminClient {
    /// The cluster id, active controller and live brokers.
    pub async fn describe_cluster(&self) -> Result<ClusterInfo, ClientError> {
        let versions = DescribeClusterRequest::VERSIONS;
        if self.serves(ApiKey::DescribeCluster, versions).await? {
            match self.describe_cluster_directly(versions).await {
                // Fjord (unlike Kafka, which checks only for authorized operations) asks for
                // DESCRIBE on the cluster; Metadata tells the same to any principal.
                Err(e) if e.kafka_code() == Some(code::CLUSTER_AUTHORIZATION_FAILED) => {}
                other => return other,
            }
        }
        let (response, _) = self
            .call(metadata_versions(), Retry::Once, |_| {
                // An empty (not null) topic list: brokers and controller only.
                MetadataRequest::default().with_topics(Some(Vec::new()))
            })
            .await?;
        cluster_from_metadata(&response)
    }

    async fn describe_cluster_directly(
        &self,
        versions: VersionRange,
    ) -> Result<ClusterInfo, ClientError> {
        // Defaults only: endpoint_type=brokers and no fenced brokers, which every version can carry.
        let (response, _) = self
            .call(versions, Retry::Once, |_| DescribeClusterRequest::default())
            .await?;
        ClientError::check(
            "DescribeCluster",
            response.error_code,
            response.error_message.as_deref(),
        )?;
        let brokers = response
            .brokers
            .iter()
            .map(|b| BrokerInfo {
                node_id: b.broker_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            })
            .collect();
        Ok(ClusterInfo {
            cluster_id: response.cluster_id.to_string(),
            controller_id: response.controller_id.0,
            brokers,
        })
    }
}

/// Metadata versions this client fills and reads: v0 is left out because its empty topic list
/// means "all topics" rather than "none".
pub(super) fn metadata_versions() -> VersionRange {
    from_version(1, MetadataRequest::VERSIONS)
}

fn cluster_from_metadata(response: &MetadataResponse) -> Result<ClusterInfo, ClientError> {
    // Metadata v13 carries a top-level error (e.g. REBOOTSTRAP_REQUIRED); older versions leave it 0.
    ClientError::check("Metadata", response.error_code, None)?;
    Ok(ClusterInfo {
        cluster_id: response
            .cluster_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        controller_id: response.controller_id.0,
        brokers: response
            .brokers
            .iter()
            .map(|b| BrokerInfo {
                node_id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            })
            .collect(),
    })
}
