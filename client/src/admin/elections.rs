//! ElectLeaders (API 43): preferred or unclean leader elections, as `kafka-leader-election.sh`
//! asks for them.

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ElectLeadersRequest, TopicName};
use kafka_protocol::protocol::{Message, StrBytes};

use super::{AdminClient, Retry};
use crate::codes::error_name;
use crate::ClientError;

/// Which leader an election looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Move leadership to the preferred (first assigned) replica when it is live and in sync.
    Preferred,
    /// Give a leaderless partition a live replica as leader even if it is out of sync (it may
    /// lack acknowledged records). Needs ElectLeaders v2.
    Unclean,
}

impl ElectionType {
    fn wire(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }
}

/// One partition's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionOutcome {
    pub topic: String,
    pub partition: i32,
    /// Kafka's error code: 0 elected, 84 ELECTION_NOT_NEEDED, 80 PREFERRED_LEADER_NOT_AVAILABLE,
    /// 83 ELIGIBLE_LEADERS_NOT_AVAILABLE, 3 UNKNOWN_TOPIC_OR_PARTITION, ...
    pub error_code: i16,
    /// Kafka's name for the code (`NONE` for 0).
    pub error_name: &'static str,
    pub message: Option<String>,
}

impl AdminClient {
    /// Runs an election for `partitions` (`None`: every partition, and the broker then answers
    /// only for the partitions that needed one). A top-level error (not authorized, no
    /// controller) is an `Err`; per-partition outcomes are in the result, in the broker's order.
    pub async fn elect_leaders(
        &self,
        election_type: ElectionType,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<ElectionOutcome>, ClientError> {
        let timeout_ms = self.operation_timeout_ms();
        let topics = partitions.map(group_by_topic);
        let mut versions = ElectLeadersRequest::VERSIONS;
        if election_type == ElectionType::Unclean {
            // Before v2 every election is a preferred one.
            versions.min = 2;
        }
        let (response, _) = self
            .call(versions, Retry::Never, |_| {
                ElectLeadersRequest::default()
                    .with_election_type(election_type.wire())
                    .with_topic_partitions(topics.clone())
                    .with_timeout_ms(timeout_ms)
            })
            .await?;
        ClientError::check("ElectLeaders", response.error_code, None)?;
        let mut out = Vec::new();
        for t in response.replica_election_results {
            for p in t.partition_result {
                out.push(ElectionOutcome {
                    topic: t.topic.0.to_string(),
                    partition: p.partition_id,
                    error_code: p.error_code,
                    error_name: if p.error_code == 0 {
                        "NONE"
                    } else {
                        error_name(p.error_code)
                    },
                    message: p.error_message.map(|m| m.to_string()),
                });
            }
        }
        Ok(out)
    }
}

/// The request's topic list: partitions grouped under their topic, topics in first-seen order.
fn group_by_topic(partitions: &[(String, i32)]) -> Vec<TopicPartitions> {
    let mut topics: Vec<TopicPartitions> = Vec::new();
    for (topic, partition) in partitions {
        match topics.iter_mut().find(|t| *t.topic.0 == **topic) {
            Some(t) => t.partitions.push(*partition),
            None => topics.push(
                TopicPartitions::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(vec![*partition]),
            ),
        }
    }
    topics
}
