//! OffsetCommit (key 8): store a group's consumed positions in `__consumer_offsets`.
//!
//! Group members are checked (generation, member id, static fencing); a commit with
//! generation -1 from outside group management is accepted while the group is Empty.
//! v2-v4's `retention_time_ms` sets an explicit expiry, as in Kafka. v9 (KIP-848)
//! carries a consumer group member's epoch in `generation_id_or_member_epoch`
//! (STALE_MEMBER_EPOCH when it is not the member's current one) and answers an
//! unknown group with GROUP_ID_NOT_FOUND.

use super::topic_name;
use crate::group::CommitRequest;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use std::collections::BTreeMap;

pub const MIN_VERSION: i16 = 2;
pub const MAX_VERSION: i16 = 9;

pub async fn handle(
    ctx: &RequestContext,
    req: OffsetCommitRequest,
) -> Option<OffsetCommitResponse> {
    let broker = &ctx.broker;
    let mut results: Vec<(String, i32, Option<ResponseError>)> = Vec::new();
    let mut commit = CommitRequest {
        group_id: req.group_id.0.to_string(),
        generation: req.generation_id_or_member_epoch,
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        retention_time_ms: if ctx.version <= 4 {
            req.retention_time_ms
        } else {
            -1
        },
        offsets: Vec::new(),
        api_version: ctx.version,
    };
    let authz = crate::security::authorizer::Authz::new(ctx);
    let group_error = match broker.groups.ready(broker) {
        Err(e) => Some(e),
        Ok(()) if commit.group_id.is_empty() => Some(ResponseError::InvalidGroupId),
        Ok(()) if !authz.group(crate::security::acl::op::READ, &commit.group_id) => {
            Some(ResponseError::GroupAuthorizationFailed)
        }
        Ok(()) => None,
    };
    let image = broker.image();
    for t in &req.topics {
        let topic_allowed = authz.topic(crate::security::acl::op::READ, &t.name.0);
        for p in &t.partitions {
            let topic = t.name.0.to_string();
            if let Some(e) = group_error {
                results.push((topic, p.partition_index, Some(e)));
            } else if !topic_allowed {
                results.push((
                    topic,
                    p.partition_index,
                    Some(ResponseError::TopicAuthorizationFailed),
                ));
            } else if !image
                .topic(&topic)
                .is_some_and(|t| (0..t.partition_count()).contains(&p.partition_index))
            {
                // Kafka checks the metadata, not local logs: in a cluster the
                // partition usually lives on another broker than the coordinator.
                results.push((
                    topic,
                    p.partition_index,
                    Some(ResponseError::UnknownTopicOrPartition),
                ));
            } else {
                commit.offsets.push((
                    topic,
                    p.partition_index,
                    p.committed_offset,
                    if ctx.version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    p.committed_metadata.as_ref().map(|s| s.to_string()),
                ));
            }
        }
    }
    if !commit.offsets.is_empty() {
        let group_id = commit.group_id.clone();
        match broker
            .groups
            .run(&group_id, |c, now| c.commit(now, commit))
            .await
        {
            Ok(r) => results.extend(r),
            Err(e) => {
                // Not written: the whole commit failed.
                for t in &req.topics {
                    for p in &t.partitions {
                        results.push((t.name.0.to_string(), p.partition_index, Some(e)));
                    }
                }
                results.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
            }
        }
    }
    // Answer in request order, one entry per requested partition.
    let mut by_key: BTreeMap<(String, i32), Option<ResponseError>> = BTreeMap::new();
    for (t, p, e) in results {
        by_key.entry((t, p)).or_insert(e);
    }
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            OffsetCommitResponseTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let e = by_key
                                .get(&(name.clone(), p.partition_index))
                                .copied()
                                .flatten();
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(e.map_or(0, |e| e.code()))
                        })
                        .collect(),
                )
        })
        .collect();
    Some(OffsetCommitResponse::default().with_topics(topics))
}
