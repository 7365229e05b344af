//! DescribeConfigs and IncrementalAlterConfigs for topics and brokers.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::{Message, StrBytes};

use super::nodes::kafka_error;
use super::{AdminClient, Retry};
use crate::codes::code;
use crate::{ClientError, ConfigEntry, ConfigSource};

/// Kafka's `ConfigResource.Type`: TOPIC and BROKER.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

impl AdminClient {
    /// Every config of a topic with its value and source (defaults included).
    pub async fn describe_topic_configs(
        &self,
        name: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let request = describe_request(RESOURCE_TOPIC, name);
        let (response, _) = self
            .call(DescribeConfigsRequest::VERSIONS, Retry::Once, |_| {
                request.clone()
            })
            .await?;
        config_entries(&response.results, RESOURCE_TOPIC, name)
    }

    /// Every config of broker `node_id` with its value and source. As in Kafka, only that
    /// broker describes itself, so the request goes to its address.
    pub async fn describe_broker_configs(
        &self,
        node_id: i32,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let addr = self
            .broker_addresses()
            .await?
            .remove(&node_id)
            .ok_or_else(|| {
                kafka_error(
                    "DescribeConfigs",
                    code::BROKER_NOT_AVAILABLE,
                    &format!("the cluster lists no broker {node_id}"),
                )
            })?;
        let name = node_id.to_string();
        let request = describe_request(RESOURCE_BROKER, &name);
        let (response, _) = self
            .call_at(&addr, DescribeConfigsRequest::VERSIONS, Retry::Once, |_| {
                request.clone()
            })
            .await?;
        config_entries(&response.results, RESOURCE_BROKER, &name)
    }

    /// Sets the configs in `set` and resets those in `delete` to their default, in one request
    /// that the broker applies as a whole. Does nothing when both are empty.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), ClientError> {
        self.alter_configs(RESOURCE_TOPIC, name, set, delete).await
    }

    /// [`AdminClient::alter_topic_configs`] for the dynamic configs of broker `node_id`
    /// (`DYNAMIC_BROKER_CONFIG`); any broker forwards the change to the controller.
    pub async fn alter_broker_configs(
        &self,
        node_id: i32,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), ClientError> {
        self.alter_configs(RESOURCE_BROKER, &node_id.to_string(), set, delete)
            .await
    }

    async fn alter_configs(
        &self,
        resource_type: i8,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<(), ClientError> {
        if set.is_empty() && delete.is_empty() {
            return Ok(());
        }
        let resource = AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_owned()))
            .with_configs(alterations(set, delete));
        let (response, _) = self
            .call(
                IncrementalAlterConfigsRequest::VERSIONS,
                Retry::Never,
                |_| {
                    IncrementalAlterConfigsRequest::default().with_resources(vec![resource.clone()])
                },
            )
            .await?;
        let result = response
            .responses
            .iter()
            .find(|r| r.resource_type == resource_type && r.resource_name.as_str() == name)
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "IncrementalAlterConfigs response has no result for {} {name:?}",
                    resource_label(resource_type)
                ))
            })?;
        ClientError::check(
            "IncrementalAlterConfigs",
            result.error_code,
            result.error_message.as_deref(),
        )
    }
}

/// A DescribeConfigs request for every config of one resource.
fn describe_request(resource_type: i8, name: &str) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(StrBytes::from_string(name.to_owned()))
        .with_configuration_keys(None)])
}

/// The configs of the result for `resource_type` `name`, or its Kafka error.
fn config_entries(
    results: &[DescribeConfigsResult],
    resource_type: i8,
    name: &str,
) -> Result<Vec<ConfigEntry>, ClientError> {
    let result = results
        .iter()
        .find(|r| r.resource_type == resource_type && r.resource_name.as_str() == name)
        .ok_or_else(|| {
            ClientError::Protocol(format!(
                "DescribeConfigs response has no result for {} {name:?}",
                resource_label(resource_type)
            ))
        })?;
    ClientError::check(
        "DescribeConfigs",
        result.error_code,
        result.error_message.as_deref(),
    )?;
    Ok(result
        .configs
        .iter()
        .map(|c| ConfigEntry {
            name: c.name.to_string(),
            value: c.value.as_ref().map(|v| v.to_string()),
            source: ConfigSource::from_kafka(c.config_source),
            read_only: c.read_only,
            sensitive: c.is_sensitive,
        })
        .collect())
}

fn resource_label(resource_type: i8) -> &'static str {
    if resource_type == RESOURCE_BROKER {
        "broker"
    } else {
        "topic"
    }
}

fn alterations(set: &BTreeMap<String, String>, delete: &[String]) -> Vec<AlterableConfig> {
    let sets = set.iter().map(|(k, v)| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(k.clone()))
            .with_config_operation(OP_SET)
            .with_value(Some(StrBytes::from_string(v.clone())))
    });
    let deletes = delete.iter().map(|k| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(k.clone()))
            .with_config_operation(OP_DELETE)
            .with_value(None)
    });
    sets.chain(deletes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_carry_values_and_deletes_do_not() {
        let set = BTreeMap::from([("retention.ms".to_owned(), "60000".to_owned())]);
        let ops = alterations(&set, &["cleanup.policy".to_owned()]);
        let summary: Vec<(&str, i8, Option<&str>)> = ops
            .iter()
            .map(|c| (c.name.as_str(), c.config_operation, c.value.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("retention.ms", OP_SET, Some("60000")),
                ("cleanup.policy", OP_DELETE, None)
            ]
        );
    }
}
