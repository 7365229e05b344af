//! Metadata, CreateTopics, CreatePartitions and DeleteTopics.

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest,
    TopicName,
};
use kafka_protocol::protocol::{Message, StrBytes};

use super::cluster::metadata_versions;
use super::{AdminClient, Retry};
use crate::codes::code;
use crate::{ClientError, NewTopic, PartitionInfo, TopicInfo};

impl AdminClient {
    /// One topic's id and partitions; `None` when it does not exist. Never auto-creates it
    /// (on brokers older than Metadata v4 that is the broker's own setting).
    pub async fn describe_topic(&self, name: &str) -> Result<Option<TopicInfo>, ClientError> {
        let (response, _) = self
            .call(metadata_versions(), Retry::Once, |version| {
                let topic = MetadataRequestTopic::default().with_name(Some(topic_name(name)));
                metadata_request(version, Some(vec![topic]))
            })
            .await?;
        ClientError::check("Metadata", response.error_code, None)?;
        let Some(topic) = response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == name))
        else {
            return Ok(None);
        };
        match topic.error_code {
            code::UNKNOWN_TOPIC_OR_PARTITION => Ok(None),
            // The topic exists; its partitions have no leader yet and show leader -1.
            0 | code::LEADER_NOT_AVAILABLE => Ok(Some(topic_info(topic))),
            error => {
                ClientError::check("Metadata", error, None)?;
                Ok(None)
            }
        }
    }

    /// Every topic the broker knows, internal ones (`__consumer_offsets`) included, by name.
    pub async fn list_topics(&self) -> Result<Vec<TopicInfo>, ClientError> {
        let (response, _) = self
            .call(metadata_versions(), Retry::Once, |version| {
                metadata_request(version, None)
            })
            .await?;
        ClientError::check("Metadata", response.error_code, None)?;
        let mut topics: Vec<TopicInfo> = response
            .topics
            .iter()
            .filter(|t| t.error_code == 0 || t.error_code == code::LEADER_NOT_AVAILABLE)
            .map(topic_info)
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Creates a topic and returns its id. With `validate_only` the broker only checks the
    /// request, and the id returned is nil. Brokers below CreateTopics v7 do not return the id;
    /// it is then read back with Metadata (nil if that is older than v10 too).
    pub async fn create_topic(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<uuid::Uuid, ClientError> {
        let timeout_ms = self.operation_timeout_ms();
        let creatable = creatable_topic(topic);
        let (response, _) = self
            .call(CreateTopicsRequest::VERSIONS, Retry::Never, |_| {
                CreateTopicsRequest::default()
                    .with_topics(vec![creatable.clone()])
                    .with_timeout_ms(timeout_ms)
                    .with_validate_only(validate_only)
            })
            .await?;
        let result = response
            .topics
            .iter()
            .find(|t| t.name.as_str() == topic.name)
            .ok_or_else(|| missing("CreateTopics", &topic.name))?;
        ClientError::check(
            "CreateTopics",
            result.error_code,
            result.error_message.as_deref(),
        )?;
        if validate_only || !result.topic_id.is_nil() {
            return Ok(result.topic_id);
        }
        Ok(self
            .describe_topic(&topic.name)
            .await?
            .map(|t| t.topic_id)
            .unwrap_or_default())
    }

    /// Raises the partition count of `name` to `total`. `new_assignment`, if given, has one
    /// entry per *new* partition (in partition order): its replicas, preferred leader first.
    pub async fn create_partitions(
        &self,
        name: &str,
        total: i32,
        new_assignment: Option<Vec<Vec<i32>>>,
    ) -> Result<(), ClientError> {
        let timeout_ms = self.operation_timeout_ms();
        let assignments = new_assignment.map(|partitions| {
            partitions
                .into_iter()
                .map(|replicas| {
                    CreatePartitionsAssignment::default().with_broker_ids(broker_ids(&replicas))
                })
                .collect::<Vec<_>>()
        });
        let topic = CreatePartitionsTopic::default()
            .with_name(topic_name(name))
            .with_count(total)
            .with_assignments(assignments);
        let (response, _) = self
            .call(CreatePartitionsRequest::VERSIONS, Retry::Never, |_| {
                CreatePartitionsRequest::default()
                    .with_topics(vec![topic.clone()])
                    .with_timeout_ms(timeout_ms)
            })
            .await?;
        let result = response
            .results
            .iter()
            .find(|r| r.name.as_str() == name)
            .ok_or_else(|| missing("CreatePartitions", name))?;
        ClientError::check(
            "CreatePartitions",
            result.error_code,
            result.error_message.as_deref(),
        )
    }

    /// Deletes a topic by name. UNKNOWN_TOPIC_OR_PARTITION is returned as an error; callers that
    /// want deletion to be idempotent match on it.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        let timeout_ms = self.operation_timeout_ms();
        let (response, _) = self
            .call(DeleteTopicsRequest::VERSIONS, Retry::Never, |version| {
                let request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
                // v6 replaced the list of names with name-or-id entries.
                if version >= 6 {
                    request.with_topics(vec![
                        DeleteTopicState::default().with_name(Some(topic_name(name)))
                    ])
                } else {
                    request.with_topic_names(vec![topic_name(name)])
                }
            })
            .await?;
        let result = response
            .responses
            .iter()
            .find(|r| r.name.as_ref().is_some_and(|n| n.as_str() == name))
            .ok_or_else(|| missing("DeleteTopics", name))?;
        ClientError::check(
            "DeleteTopics",
            result.error_code,
            result.error_message.as_deref(),
        )
    }

    pub(super) fn operation_timeout_ms(&self) -> i32 {
        i32::try_from(self.config().operation_timeout.as_millis()).unwrap_or(i32::MAX)
    }
}

/// A Metadata request that never asks for auto-creation. The flag only exists from v4; older
/// brokers decide by their own `auto.create.topics.enable`.
fn metadata_request(version: i16, topics: Option<Vec<MetadataRequestTopic>>) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(version < 4)
}

fn creatable_topic(topic: &NewTopic) -> CreatableTopic {
    let configs = topic
        .configs
        .iter()
        .map(|(name, value)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(name.clone()))
                .with_value(Some(StrBytes::from_string(value.clone())))
        })
        .collect();
    let creatable = CreatableTopic::default()
        .with_name(topic_name(&topic.name))
        .with_configs(configs);
    match &topic.assignment {
        // Kafka requires -1 for both counts when an assignment is given.
        Some(assignment) => creatable
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(
                assignment
                    .iter()
                    .zip(0..)
                    .map(|(replicas, partition)| {
                        CreatableReplicaAssignment::default()
                            .with_partition_index(partition)
                            .with_broker_ids(broker_ids(replicas))
                    })
                    .collect(),
            ),
        None => creatable
            .with_num_partitions(topic.partitions)
            .with_replication_factor(topic.replication_factor),
    }
}

fn topic_info(topic: &MetadataResponseTopic) -> TopicInfo {
    let mut partitions: Vec<PartitionInfo> = topic
        .partitions
        .iter()
        .map(|p| PartitionInfo {
            partition: p.partition_index,
            leader: p.leader_id.0,
            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    TopicInfo {
        name: topic
            .name
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_default(),
        topic_id: topic.topic_id,
        partitions,
    }
}

pub(super) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

pub(super) fn broker_ids(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().copied().map(BrokerId).collect()
}

fn missing(api: &str, name: &str) -> ClientError {
    ClientError::Protocol(format!("{api} response has no result for topic {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn an_explicit_assignment_sends_minus_one_counts() {
        let topic = NewTopic {
            name: "orders".into(),
            partitions: 2,
            replication_factor: 2,
            assignment: Some(vec![vec![1, 2], vec![2, 3]]),
            configs: BTreeMap::from([("retention.ms".into(), "1000".into())]),
        };
        let creatable = creatable_topic(&topic);
        assert_eq!(creatable.num_partitions, -1);
        assert_eq!(creatable.replication_factor, -1);
        let assigned: Vec<(i32, Vec<i32>)> = creatable
            .assignments
            .iter()
            .map(|a| {
                (
                    a.partition_index,
                    a.broker_ids.iter().map(|b| b.0).collect(),
                )
            })
            .collect();
        assert_eq!(assigned, vec![(0, vec![1, 2]), (1, vec![2, 3])]);
        assert_eq!(creatable.configs[0].name.as_str(), "retention.ms");
        assert_eq!(creatable.configs[0].value.as_deref(), Some("1000"));
    }

    #[test]
    fn without_assignment_counts_are_sent_as_given() {
        let topic = NewTopic {
            name: "logs".into(),
            partitions: 6,
            replication_factor: 3,
            ..NewTopic::default()
        };
        let creatable = creatable_topic(&topic);
        assert_eq!(
            (creatable.num_partitions, creatable.replication_factor),
            (6, 3)
        );
        assert!(creatable.assignments.is_empty());
    }

    #[test]
    fn metadata_requests_never_ask_for_auto_creation_where_they_can_say_so() {
        use kafka_protocol::protocol::Encodable;
        assert!(!metadata_request(4, None).allow_auto_topic_creation);
        assert!(!metadata_request(12, None).allow_auto_topic_creation);
        // v1-v3 cannot carry the flag; the request must still encode.
        let old = metadata_request(1, None);
        let mut buf = bytes::BytesMut::new();
        old.encode(&mut buf, 1).unwrap();
    }
}
