//! OffsetForLeaderEpoch (key 23, KIP-101/KIP-320): for each partition, the largest leader
//! epoch `<=` the requested one in the leader's epoch cache and the offset where that epoch
//! ends (the start of the next epoch, or the log end for the current one). A follower asks
//! before fetching from a new leader and truncates to the answer; a consumer asks to check
//! its position after a leader change. Only the leader answers, after Kafka's epoch checks
//! (`current_leader_epoch`, from v2). Authorization as Kafka: CLUSTER_ACTION on the cluster
//! (brokers) allows every topic, else DESCRIBE on each topic.
//!
//! Versions 2–4 (Kafka 4 removed 0–1, and the codec only knows 2–4).

use crate::router::RequestContext;
use crate::security::acl::op;
use crate::security::authorizer::Authz;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

pub const MIN_VERSION: i16 = 2;
pub const MAX_VERSION: i16 = 4;

pub async fn handle(
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> Option<OffsetForLeaderEpochResponse> {
    let authz = Authz::new(ctx);
    let cluster_action = authz.cluster(op::CLUSTER_ACTION);
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let allowed = cluster_action || authz.topic(op::DESCRIBE, &t.topic.0);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let answer = EpochEndOffset::default().with_partition(p.partition);
                    if !allowed {
                        return answer
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    let found = ctx.broker.leader_partition(
                        &t.topic.0,
                        p.partition,
                        p.current_leader_epoch,
                    );
                    match found {
                        Ok((partition, _)) => {
                            let (epoch, end) = partition.log.end_offset_for_epoch(p.leader_epoch);
                            answer.with_leader_epoch(epoch).with_end_offset(end)
                        }
                        Err(code) => answer.with_error_code(code.code()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    Some(OffsetForLeaderEpochResponse::default().with_topics(topics))
}
