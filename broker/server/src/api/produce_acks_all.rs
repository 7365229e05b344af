//! `acks=all`: after the append, the produce waits in its partition's purgatory until the
//! high watermark passes the batch (Kafka's `DelayedProduce`), at most the request's
//! `timeout_ms`. No task or thread per request: the waiter is a oneshot completed by whoever
//! advances the high watermark (a follower's fetch, an ISR change).

use crate::partition::Partition;
use crate::replication::role::AcksAllWait;
use fjord_replication::AcksAllOutcome;
use kafka_protocol::error::ResponseError;
use tokio::time::Instant;

/// Waits for `required` to be committed; `None` when it is, else the partition's error:
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND (the ISR shrank below `min.insync.replicas`),
/// REQUEST_TIMED_OUT, or NOT_LEADER_OR_FOLLOWER (leadership moved while waiting).
pub async fn wait(p: &Partition, required: i64, deadline: Instant) -> Option<ResponseError> {
    let outcome = match p.park_acks_all(required)? {
        AcksAllWait::Now(outcome) => outcome,
        AcksAllWait::Later(id, rx) => match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => return Some(ResponseError::NotLeaderOrFollower),
            Err(_) => {
                p.cancel_acks_all(id);
                return Some(ResponseError::RequestTimedOut);
            }
        },
    };
    match outcome {
        AcksAllOutcome::Committed => None,
        AcksAllOutcome::NotEnoughReplicasAfterAppend => {
            Some(ResponseError::NotEnoughReplicasAfterAppend)
        }
        AcksAllOutcome::NotEnoughReplicas => Some(ResponseError::NotEnoughReplicas),
    }
}
