//! ConsumerGroupHeartbeat (key 68): KIP-848's member protocol. Every input goes
//! through `fjord_group` (validation, epochs, server-side assignment, reconciliation)
//! in the group's coordinator shard; see `group/consumer.rs` for how consumer and
//! classic groups share group ids.
//!
//! v0 and v1: v1 adds `SubscribedTopicRegex` and requires the client to generate its
//! member id (KIP-1082); a v0 member joining with an empty id gets one from us.

use super::str_bytes;
use crate::broker::Broker;
use crate::group::consumer::error_code;
use crate::metadata::MetadataImage;
use crate::router::RequestContext;
use fjord_group::{assignment, Assignment, HeartbeatRequest, Topics};
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use parking_lot::Mutex;
use std::sync::{Arc, Weak};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 1;

/// The last image's topics, so heartbeats do not rebuild the view until the metadata
/// changes (every change publishes a new image).
type TopicsCache = Option<(Weak<MetadataImage>, Arc<Topics>)>;
static TOPICS: Mutex<TopicsCache> = Mutex::new(None);

/// The cluster's topics as the group coordinator needs them (name, id, partitions).
pub fn topics(broker: &Broker) -> Arc<Topics> {
    let image = broker.image();
    let mut cache = TOPICS.lock();
    if let Some((seen, topics)) = cache.as_ref() {
        if seen.upgrade().is_some_and(|s| Arc::ptr_eq(&s, &image)) {
            return topics.clone();
        }
    }
    let topics = Arc::new(Topics::new(
        image
            .topics
            .values()
            .map(|t| (t.name.to_string(), t.id, t.partition_count())),
    ));
    *cache = Some((Arc::downgrade(&image), topics.clone()));
    topics
}

pub async fn handle(
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> Option<ConsumerGroupHeartbeatResponse> {
    let broker = &ctx.broker;
    if !crate::security::authorizer::Authz::new(ctx)
        .group(crate::security::acl::op::READ, &req.group_id.0)
    {
        return Some(ConsumerGroupHeartbeatResponse::default().with_error_code(
            kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code(),
        ));
    }
    if let Err(e) = broker.groups.ready(broker) {
        return Some(ConsumerGroupHeartbeatResponse::default().with_error_code(e.code()));
    }
    let hb = HeartbeatRequest {
        version: ctx.version,
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.map(|s| s.to_string()),
        rack_id: req.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.0.to_string()).collect()),
        subscribed_topic_regex: req.subscribed_topic_regex.map(|s| s.to_string()),
        server_assignor: req.server_assignor.map(|s| s.to_string()),
        owned: req.topic_partitions.map(|tps| {
            assignment::from_pairs(tps.iter().map(|tp| (tp.topic_id, tp.partitions.as_slice())))
        }),
        client_id: ctx
            .header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
    };
    let topics = topics(broker);
    let group = hb.group_id.clone();
    let result = broker
        .groups
        .run(&group, |c, now| c.consumer_heartbeat(now, hb, &topics))
        .await;
    let resp = match result {
        Err(e) => ConsumerGroupHeartbeatResponse::default().with_error_code(e.code()),
        Ok(Err(e)) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(error_code(&e).code())
            .with_error_message(Some(str_bytes(e.to_string()))),
        Ok(Ok(r)) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(r.member_id)))
            .with_member_epoch(r.member_epoch)
            .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
            .with_assignment(r.assignment.as_ref().map(wire)),
    };
    Some(resp)
}

fn wire(a: &Assignment) -> WireAssignment {
    WireAssignment::default().with_topic_partitions(
        a.iter()
            .map(|(t, ps)| {
                TopicPartitions::default()
                    .with_topic_id(*t)
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    )
}
