//! OffsetFetch (key 9): a group's committed offsets (v8+: several groups at once).
//!
//! `require_stable` (v7+) asks to wait out pending transactional commits; with no
//! transactions nothing is ever pending, so it is always satisfied. v9 (KIP-848) may
//! name a consumer group member and its epoch: an unknown member gets
//! UNKNOWN_MEMBER_ID, an old epoch STALE_MEMBER_EPOCH (classic groups ignore both).

use super::{str_bytes, topic_name};
use crate::group::FetchedOffset;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 9;

type Wanted = Option<Vec<(String, i32)>>;

pub async fn handle(ctx: &RequestContext, req: OffsetFetchRequest) -> Option<OffsetFetchResponse> {
    if ctx.version >= 8 {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let wanted: Wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .flat_map(|t| {
                            t.partition_indexes
                                .iter()
                                .map(|p| (t.name.0.to_string(), *p))
                        })
                        .collect()
                });
                let member = (ctx.version >= 9)
                    .then(|| (g.member_id.as_ref().map(|m| m.to_string()), g.member_epoch));
                let fetched = fetch(ctx, &g.group_id.0, wanted, member);
                OffsetFetchResponseGroup::default()
                    .with_group_id(GroupId(g.group_id.0.clone()))
                    .with_error_code(fetched.error.map_or(0, |e| e.code()))
                    .with_topics(group_topics(fetched))
            })
            .collect();
        return Some(OffsetFetchResponse::default().with_groups(groups));
    }
    // v1: an empty list cannot mean "all"; v2+: null means all.
    let wanted: Wanted = req.topics.as_ref().map(|ts| {
        ts.iter()
            .flat_map(|t| {
                t.partition_indexes
                    .iter()
                    .map(|p| (t.name.0.to_string(), *p))
            })
            .collect()
    });
    let requested = wanted.clone();
    let fetched = fetch(ctx, &req.group_id.0, wanted, None);
    let error = fetched.error;
    let partitions: Vec<(FetchedOffset, i16)> = match error {
        // v1 has no top-level error: every requested partition carries it.
        Some(e) if ctx.version < 2 => to_unknown(requested.unwrap_or_default())
            .into_iter()
            .map(|o| (o, e.code()))
            .collect(),
        _ => fetched.partitions().collect(),
    };
    let mut topics: Vec<OffsetFetchResponseTopic> = Vec::new();
    for (o, error_code) in partitions {
        let part = OffsetFetchResponsePartition::default()
            .with_partition_index(o.partition)
            .with_committed_offset(o.offset)
            .with_committed_leader_epoch(o.leader_epoch)
            .with_metadata(Some(str_bytes(o.metadata)))
            .with_error_code(error_code);
        match topics.last_mut() {
            Some(t) if *t.name.0 == *o.topic => t.partitions.push(part),
            _ => topics.push(
                OffsetFetchResponseTopic::default()
                    .with_name(topic_name(&o.topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    let top = if ctx.version >= 2 {
        error.map_or(0, |e| e.code())
    } else {
        0
    };
    Some(
        OffsetFetchResponse::default()
            .with_topics(topics)
            .with_error_code(top),
    )
}

fn to_unknown(parts: Vec<(String, i32)>) -> Vec<FetchedOffset> {
    parts
        .into_iter()
        .map(|(topic, partition)| FetchedOffset {
            topic,
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
        })
        .collect()
}

/// (member id, member epoch) of a v9+ request.
type Member = Option<(Option<String>, i32)>;

/// One group's answer: its error, or the committed offsets the principal may describe
/// followed by the partitions it named but may not describe (TOPIC_AUTHORIZATION_FAILED).
struct Fetched {
    error: Option<ResponseError>,
    offsets: Vec<FetchedOffset>,
    denied: Vec<FetchedOffset>,
}

impl Fetched {
    fn failed(e: ResponseError) -> Fetched {
        Fetched {
            error: Some(e),
            offsets: Vec::new(),
            denied: Vec::new(),
        }
    }

    /// Offsets and denied partitions with each one's error code, in the response's order.
    fn partitions(self) -> impl Iterator<Item = (FetchedOffset, i16)> {
        let denied = ResponseError::TopicAuthorizationFailed.code();
        (self.offsets.into_iter().map(|o| (o, 0)))
            .chain(self.denied.into_iter().map(move |o| (o, denied)))
    }
}

/// As Kafka's `fetchOffsetsForGroup` / `fetchAllOffsetsForGroup`: named topics the principal
/// may not describe are answered TOPIC_AUTHORIZATION_FAILED without asking the group; when
/// all topics are asked for, those the principal may not describe are left out.
fn fetch(ctx: &RequestContext, group: &str, wanted: Wanted, member: Member) -> Fetched {
    let groups = &ctx.broker.groups;
    if let Err(e) = groups.ready(&ctx.broker) {
        return Fetched::failed(e);
    }
    if group.is_empty() {
        return Fetched::failed(ResponseError::InvalidGroupId);
    }
    let authz = crate::security::authorizer::Authz::new(ctx);
    if !authz.group(crate::security::acl::op::DESCRIBE, group) {
        return Fetched::failed(ResponseError::GroupAuthorizationFailed);
    }
    let describable = |topic: &str| authz.topic(crate::security::acl::op::DESCRIBE, topic);
    let (wanted, denied) = match wanted {
        None => (None, Vec::new()),
        Some(parts) => {
            let (allowed, denied): (Vec<_>, Vec<_>) =
                parts.into_iter().partition(|(t, _)| describable(t));
            (Some(allowed), to_unknown(denied))
        }
    };
    let result = groups.read(group, |c| {
        if let Some((member_id, epoch)) = &member {
            c.validate_offset_fetch(group, member_id.as_deref(), *epoch)?;
        }
        Ok(c.fetch_offsets(group, wanted))
    });
    match result {
        Ok(Ok(mut offsets)) => {
            offsets.retain(|o| describable(&o.topic));
            Fetched {
                error: None,
                offsets,
                denied,
            }
        }
        Ok(Err(e)) | Err(e) => Fetched::failed(e),
    }
}

fn group_topics(fetched: Fetched) -> Vec<OffsetFetchResponseTopics> {
    let mut topics: Vec<OffsetFetchResponseTopics> = Vec::new();
    for (o, error_code) in fetched.partitions() {
        let part = OffsetFetchResponsePartitions::default()
            .with_partition_index(o.partition)
            .with_committed_offset(o.offset)
            .with_committed_leader_epoch(o.leader_epoch)
            .with_metadata(Some(str_bytes(o.metadata)))
            .with_error_code(error_code);
        match topics.last_mut() {
            Some(t) if *t.name.0 == *o.topic => t.partitions.push(part),
            _ => topics.push(
                OffsetFetchResponseTopics::default()
                    .with_name(topic_name(&o.topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    topics
}
