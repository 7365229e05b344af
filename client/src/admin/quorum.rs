//! DescribeQuorum (KIP-595, KIP-836): the metadata quorum's leader, epoch, high watermark
//! and each voter's and observer's progress.

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::ReplicaState;
use kafka_protocol::messages::{ApiKey, DescribeQuorumRequest, TopicName};
use kafka_protocol::protocol::{Message, StrBytes};

use super::{AdminClient, Retry};
use crate::ClientError;

/// The metadata log's topic name.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// The quorum as its leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumInfo {
    /// The leader's node id (the active controller), -1 when there is none.
    pub leader_id: i32,
    /// The leader's epoch.
    pub leader_epoch: i32,
    /// The metadata log's high watermark.
    pub high_watermark: i64,
    /// Voting members.
    pub voters: Vec<QuorumReplica>,
    /// Non-voting followers.
    pub observers: Vec<QuorumReplica>,
}

/// One replica of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    /// Its node id.
    pub replica_id: i32,
    /// Its log end offset as the leader knows it.
    pub log_end_offset: i64,
    /// When the leader last heard a fetch from it (ms since the epoch; v1 on).
    pub last_fetch_timestamp: Option<i64>,
    /// When it last had everything the leader had (ms since the epoch; v1 on).
    pub last_caught_up_timestamp: Option<i64>,
}

impl QuorumInfo {
    /// How far `replica` is behind the leader's log end offset (the high watermark when the
    /// leader is not among the voters), as Kafka's `kafka-metadata-quorum.sh` reports it.
    pub fn lag(&self, replica: &QuorumReplica) -> i64 {
        let leader_end = self
            .voters
            .iter()
            .find(|v| v.replica_id == self.leader_id)
            .map_or(self.high_watermark, |l| l.log_end_offset);
        (leader_end - replica.log_end_offset).max(0)
    }
}

fn replica(r: &ReplicaState) -> QuorumReplica {
    let known = |t: i64| (t >= 0).then_some(t);
    QuorumReplica {
        replica_id: r.replica_id.0,
        log_end_offset: r.log_end_offset,
        last_fetch_timestamp: known(r.last_fetch_timestamp),
        last_caught_up_timestamp: known(r.last_caught_up_timestamp),
    }
}

impl AdminClient {
    /// The metadata quorum, or `None` when the broker does not serve DescribeQuorum (a
    /// ZooKeeper-era Kafka, or another Kafka-compatible broker).
    pub async fn describe_quorum(&self) -> Result<Option<QuorumInfo>, ClientError> {
        let versions = DescribeQuorumRequest::VERSIONS;
        if !self.serves(ApiKey::DescribeQuorum, versions).await? {
            return Ok(None);
        }
        let (response, _) = self
            .call(versions, Retry::Once, |_| {
                DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
                    .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                    .with_partitions(vec![PartitionData::default().with_partition_index(0)])])
            })
            .await?;
        ClientError::check(
            "DescribeQuorum",
            response.error_code,
            response.error_message.as_deref(),
        )?;
        let partition = response
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == 0)
            .ok_or_else(|| {
                ClientError::Protocol("DescribeQuorum answered without partition 0".to_owned())
            })?;
        ClientError::check(
            "DescribeQuorum",
            partition.error_code,
            partition.error_message.as_deref(),
        )?;
        let mut voters: Vec<QuorumReplica> = partition.current_voters.iter().map(replica).collect();
        let mut observers: Vec<QuorumReplica> = partition.observers.iter().map(replica).collect();
        voters.sort_by_key(|r| r.replica_id);
        observers.sort_by_key(|r| r.replica_id);
        Ok(Some(QuorumInfo {
            leader_id: partition.leader_id.0,
            leader_epoch: partition.leader_epoch,
            high_watermark: partition.high_watermark,
            voters,
            observers,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: i32, end: i64) -> QuorumReplica {
        QuorumReplica {
            replica_id: id,
            log_end_offset: end,
            last_fetch_timestamp: None,
            last_caught_up_timestamp: None,
        }
    }

    #[test]
    fn lag_is_measured_from_the_leaders_log_end() {
        let q = QuorumInfo {
            leader_id: 1,
            leader_epoch: 3,
            high_watermark: 90,
            voters: vec![r(0, 95), r(1, 100), r(2, 40)],
            observers: vec![r(7, 100)],
        };
        let lags: Vec<i64> = q.voters.iter().map(|v| q.lag(v)).collect();
        assert_eq!(lags, vec![5, 0, 60]);
        let leaderless = QuorumInfo {
            leader_id: -1,
            ..q.clone()
        };
        assert_eq!(leaderless.lag(&r(2, 40)), 50);
    }
}
