//! One config key across many topics in one DescribeConfigs (e.g. `min.insync.replicas` for
//! `fjord cluster status`).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::DescribeConfigsRequest;
use kafka_protocol::protocol::{Message, StrBytes};

use super::{AdminClient, Retry};
use crate::ClientError;

/// Kafka's `ConfigResource.Type.TOPIC`.
const RESOURCE_TOPIC: i8 = 2;

impl AdminClient {
    /// The value of `key` for each of `topics`. A topic whose lookup failed (e.g. deleted
    /// meanwhile) or that has no value is left out.
    pub async fn topic_config_values(
        &self,
        topics: &[String],
        key: &str,
    ) -> Result<BTreeMap<String, String>, ClientError> {
        if topics.is_empty() {
            return Ok(BTreeMap::new());
        }
        let resources: Vec<DescribeConfigsResource> = topics
            .iter()
            .map(|t| {
                DescribeConfigsResource::default()
                    .with_resource_type(RESOURCE_TOPIC)
                    .with_resource_name(StrBytes::from_string(t.clone()))
                    .with_configuration_keys(Some(vec![StrBytes::from_string(key.to_owned())]))
            })
            .collect();
        let (response, _) = self
            .call(DescribeConfigsRequest::VERSIONS, Retry::Once, |_| {
                DescribeConfigsRequest::default().with_resources(resources.clone())
            })
            .await?;
        Ok(response
            .results
            .iter()
            .filter(|r| r.error_code == 0 && r.resource_type == RESOURCE_TOPIC)
            .filter_map(|r| {
                let c = r.configs.iter().find(|c| c.name.as_str() == key)?;
                Some((r.resource_name.to_string(), c.value.as_ref()?.to_string()))
            })
            .collect())
    }
}
