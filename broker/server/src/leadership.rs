//! Which partitions this broker leads, as the metadata image says, and the checks Kafka's
//! `ReplicaManager` makes before serving a request only a leader may serve (Produce, Fetch,
//! ListOffsets): the partition must be hosted here, the client's `current_leader_epoch`
//! (when it sends one) must be the image's, and this broker must be the leader.

use crate::broker::Broker;
use crate::partition::Partition;
use crate::replication::role::Role;
use kafka_protocol::error::ResponseError;
use std::sync::Arc;

/// "The client did not say which epoch it believes in" on the wire.
pub const NO_EPOCH: i32 = -1;

impl Broker {
    /// The partition and its leader epoch when this broker leads it, else the Kafka error:
    /// UNKNOWN_TOPIC_OR_PARTITION / NOT_LEADER_OR_FOLLOWER for a partition not open here,
    /// FENCED_LEADER_EPOCH when the client's epoch is older than the leader's,
    /// UNKNOWN_LEADER_EPOCH when it is newer (this broker has not applied it yet), and
    /// NOT_LEADER_OR_FOLLOWER when another replica leads. Epochs are checked before
    /// leadership, as Kafka's `Partition.localLogWithEpochOrThrow` does.
    pub fn leader_partition(
        &self,
        topic: &str,
        index: i32,
        current_leader_epoch: i32,
    ) -> Result<(Arc<Partition>, i32), ResponseError> {
        let Some(partition) = self.partition(topic, index) else {
            return Err(self.missing_partition_error(topic, index));
        };
        let image = self.image();
        let Some(leadership) = image
            .topic(topic)
            .filter(|t| t.id == partition.topic_id)
            .and_then(|t| t.leadership(index as usize))
        else {
            return Err(ResponseError::UnknownTopicOrPartition);
        };
        check_epoch(current_leader_epoch, leadership.leader_epoch)?;
        // The image may be ahead of the partition's role for a moment (roles follow each
        // applied change): until it has become leader, it is not one.
        let following = matches!(*partition.role.lock(), Role::Follower(_));
        if leadership.leader != self.config.node_id || following {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        Ok((partition, leadership.leader_epoch))
    }

    /// As [`Broker::leader_partition`], but a follower may serve too: a consumer's Fetch
    /// v11+ (KIP-392), which reads up to the follower's high watermark. NOT_LEADER_OR_FOLLOWER
    /// when this broker is neither (a replica still taking its role).
    pub fn replica_partition(
        &self,
        topic: &str,
        index: i32,
        current_leader_epoch: i32,
    ) -> Result<(Arc<Partition>, i32), ResponseError> {
        match self.leader_partition(topic, index, current_leader_epoch) {
            Err(ResponseError::NotLeaderOrFollower) => {}
            other => return other,
        }
        let partition = self
            .partition(topic, index)
            .ok_or(ResponseError::NotLeaderOrFollower)?;
        let epoch = match &*partition.role.lock() {
            Role::Follower(f) => f.leader_epoch,
            _ => return Err(ResponseError::NotLeaderOrFollower),
        };
        check_epoch(current_leader_epoch, epoch)?;
        Ok((partition, epoch))
    }
}

/// Kafka's `checkCurrentLeaderEpoch`: a request naming an epoch must name the current one.
pub fn check_epoch(requested: i32, current: i32) -> Result<(), ResponseError> {
    if requested == NO_EPOCH || requested == current {
        Ok(())
    } else if requested < current {
        Err(ResponseError::FencedLeaderEpoch)
    } else {
        Err(ResponseError::UnknownLeaderEpoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_epoch_is_fenced_and_a_newer_one_unknown() {
        assert_eq!(check_epoch(NO_EPOCH, 4), Ok(()));
        assert_eq!(check_epoch(4, 4), Ok(()));
        assert_eq!(check_epoch(3, 4), Err(ResponseError::FencedLeaderEpoch));
        assert_eq!(check_epoch(5, 4), Err(ResponseError::UnknownLeaderEpoch));
    }
}
