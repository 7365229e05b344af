//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455).

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ListPartitionReassignmentsRequest,
};
use kafka_protocol::protocol::Message;

use super::topics::{broker_ids, topic_name};
use super::{AdminClient, Retry};
use crate::ClientError;

/// One partition's requested move: its new replicas (preferred leader first), or `None` to
/// cancel the ongoing reassignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Option<Vec<i32>>,
}

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    /// The whole replica set during the move (target first, then the replicas leaving).
    pub replicas: Vec<i32>,
    /// Replicas being added (not yet in sync).
    pub adding: Vec<i32>,
    /// Replicas removed once the adding ones are in sync.
    pub removing: Vec<i32>,
}

impl AdminClient {
    /// Starts (or cancels) the given reassignments. Returns one result per entry, in order:
    /// the Kafka error of a refused partition, if any.
    pub async fn alter_partition_reassignments(
        &self,
        moves: &[Reassignment],
    ) -> Result<Vec<Result<(), ClientError>>, ClientError> {
        let timeout_ms = self.operation_timeout_ms();
        let mut topics: Vec<ReassignableTopic> = Vec::new();
        for m in moves {
            let partition = ReassignablePartition::default()
                .with_partition_index(m.partition)
                .with_replicas(m.replicas.as_deref().map(broker_ids));
            match topics.iter_mut().find(|t| t.name.as_str() == m.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(
                    ReassignableTopic::default()
                        .with_name(topic_name(&m.topic))
                        .with_partitions(vec![partition]),
                ),
            }
        }
        let (response, _) = self
            .call(
                AlterPartitionReassignmentsRequest::VERSIONS,
                Retry::Never,
                |_| {
                    AlterPartitionReassignmentsRequest::default()
                        .with_timeout_ms(timeout_ms)
                        .with_allow_replication_factor_change(true)
                        .with_topics(topics.clone())
                },
            )
            .await?;
        ClientError::check(
            "AlterPartitionReassignments",
            response.error_code,
            response.error_message.as_deref(),
        )?;
        Ok(moves
            .iter()
            .map(|m| {
                let found = response
                    .responses
                    .iter()
                    .filter(|t| t.name.as_str() == m.topic)
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition_index == m.partition);
                match found {
                    Some(p) => ClientError::check(
                        "AlterPartitionReassignments",
                        p.error_code,
                        p.error_message.as_deref(),
                    ),
                    None => Err(ClientError::Protocol(format!(
                        "AlterPartitionReassignments response has no result for {}-{}",
                        m.topic, m.partition
                    ))),
                }
            })
            .collect())
    }

    /// The ongoing reassignments: all of them (`partitions` empty) or of the named partitions.
    pub async fn list_partition_reassignments(
        &self,
        partitions: &[(String, i32)],
    ) -> Result<Vec<OngoingReassignment>, ClientError> {
        let timeout_ms = self.operation_timeout_ms();
        let topics = (!partitions.is_empty()).then(|| {
            let mut topics: Vec<ListPartitionReassignmentsTopics> = Vec::new();
            for (topic, p) in partitions {
                match topics.iter_mut().find(|t| t.name.as_str() == topic) {
                    Some(t) => t.partition_indexes.push(*p),
                    None => topics.push(
                        ListPartitionReassignmentsTopics::default()
                            .with_name(topic_name(topic))
                            .with_partition_indexes(vec![*p]),
                    ),
                }
            }
            topics
        });
        let (response, _) = self
            .call(
                ListPartitionReassignmentsRequest::VERSIONS,
                Retry::Once,
                |_| {
                    ListPartitionReassignmentsRequest::default()
                        .with_timeout_ms(timeout_ms)
                        .with_topics(topics.clone())
                },
            )
            .await?;
        ClientError::check(
            "ListPartitionReassignments",
            response.error_code,
            response.error_message.as_deref(),
        )?;
        let ids = |v: &[kafka_protocol::messages::BrokerId]| v.iter().map(|b| b.0).collect();
        let mut out: Vec<OngoingReassignment> = response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| OngoingReassignment {
                    topic: t.name.to_string(),
                    partition: p.partition_index,
                    replicas: ids(&p.replicas),
                    adding: ids(&p.adding_replicas),
                    removing: ids(&p.removing_replicas),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }
}
