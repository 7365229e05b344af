//! AlterPartitionReassignments (key 45): move partitions to new replicas, change their
//! replication factor, or cancel a move (a null replica list). Each partition is one command
//! to the active controller (`Command::Reassign`, decided by `fjord_controller::reassignment`),
//! answered once committed; the move itself then proceeds as the new replicas catch up.

use super::str_bytes;
use crate::quorum::controller::Command;
use crate::router::RequestContext;
use crate::security::acl::op;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};

pub const MIN_VERSION: i16 = 0;
/// v1 adds `allow_replication_factor_change` (KIP-860).
pub const MAX_VERSION: i16 = 1;

pub async fn handle(
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> Option<AlterPartitionReassignmentsResponse> {
    let allow_rf_change = ctx.version < 1 || req.allow_replication_factor_change;
    let authorized = crate::security::authorizer::Authz::new(ctx).cluster(op::ALTER);
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let r =
                ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
            let target: Option<Vec<i32>> = p.replicas.map(|r| r.into_iter().map(|b| b.0).collect());
            let outcome = if !authorized {
                Err((ResponseError::ClusterAuthorizationFailed, None))
            } else {
                reassign(ctx, &t.name.0, p.partition_index, target, allow_rf_change).await
            };
            partitions.push(match outcome {
                Ok(()) => r,
                Err((code, message)) => r
                    .with_error_code(code.code())
                    .with_error_message(message.map(str_bytes)),
            });
        }
        responses.push(
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    let mut resp = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change)
        .with_responses(responses);
    if !authorized {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
    }
    Some(resp)
}

async fn reassign(
    ctx: &RequestContext,
    topic: &str,
    partition: i32,
    target: Option<Vec<i32>>,
    allow_rf_change: bool,
) -> Result<(), (ResponseError, Option<String>)> {
    if let (false, Some(target)) = (allow_rf_change, &target) {
        // KIP-860: the count is checked against the replicas the partition will keep.
        let image = ctx.broker.image();
        let current = image.topic(topic).and_then(|t| {
            let p = usize::try_from(partition).ok()?;
            let replicas = t.replicas.get(p)?;
            Some(
                t.reassigning(p)
                    .map_or(replicas.len(), |r| r.original(replicas).len()),
            )
        });
        if let Some(current) = current.filter(|c| *c != target.len()) {
            return Err((
                ResponseError::InvalidReplicationFactor,
                Some(format!(
                    "The replication factor is changed from {current} to {}",
                    target.len()
                )),
            ));
        }
    }
    let cmd = Command::Reassign {
        topic: topic.to_string(),
        partition,
        target,
    };
    match ctx.broker.submit(cmd).await {
        Ok(_) => Ok(()),
        Err(e) => Err((e.code, Some(e.message))),
    }
}
