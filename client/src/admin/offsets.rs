//! ListOffsets: the earliest, latest or first-at-a-timestamp offset of partitions, asked of
//! each partition's leader.

use std::collections::BTreeMap;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::{Message, StrBytes};

use super::nodes::kafka_error;
use super::{AdminClient, Retry};
use crate::codes::code;
use crate::ClientError;

/// Which offset ListOffsets looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (high watermark): where the next record goes.
    Latest,
    /// The first offset whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    /// Kafka's wire value: -2 earliest, -1 latest, else the timestamp.
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(ms) => ms,
        }
    }
}

impl AdminClient {
    /// The offset `spec` names for each of `partitions` of `topic` (every partition when
    /// `partitions` is empty). For a timestamp after the last record the value is `None`
    /// (Kafka answers -1); earliest and latest always have a value.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[i32],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<i32, Option<i64>>, ClientError> {
        let leaders = self.leader_addresses(topic).await?;
        let mut by_leader: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        let wanted: Vec<i32> = if partitions.is_empty() {
            leaders.keys().copied().collect()
        } else {
            partitions.to_vec()
        };
        for p in &wanted {
            match leaders.get(p) {
                Some(Some(addr)) => by_leader.entry(addr.clone()).or_default().push(*p),
                Some(None) => {
                    return Err(kafka_error(
                        "ListOffsets",
                        code::LEADER_NOT_AVAILABLE,
                        &format!("{topic}-{p} has no leader"),
                    ))
                }
                None => {
                    return Err(kafka_error(
                        "ListOffsets",
                        code::UNKNOWN_TOPIC_OR_PARTITION,
                        &format!("topic {topic:?} has no partition {p}"),
                    ))
                }
            }
        }
        let mut out = BTreeMap::new();
        for (addr, partitions) in by_leader {
            let request_topic = ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*p)
                                .with_current_leader_epoch(-1)
                                .with_timestamp(spec.wire())
                        })
                        .collect(),
                );
            let timeout_ms = self.operation_timeout_ms();
            let (response, _) = self
                .call_at(&addr, ListOffsetsRequest::VERSIONS, Retry::Once, |_| {
                    ListOffsetsRequest::default()
                        .with_replica_id(BrokerId(-1))
                        .with_topics(vec![request_topic.clone()])
                        .with_timeout_ms(timeout_ms)
                })
                .await?;
            for t in &response.topics {
                for p in &t.partitions {
                    ClientError::check("ListOffsets", p.error_code, None)?;
                    out.insert(p.partition_index, (p.offset >= 0).then_some(p.offset));
                }
            }
        }
        Ok(out)
    }
}
