//! Metadata (key 3): brokers, controller, topics and partitions from the image;
//! creates unknown topics when auto-creation is on and the request allows it.

use super::{str_bytes, topic_name};
use crate::broker::Broker;
use crate::metadata::TopicImage;
use crate::router::RequestContext;
use crate::security::acl::{op, resource};
use crate::topics::{validate_name, NewTopic};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use std::collections::BTreeMap;

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 12;

pub async fn handle(ctx: &RequestContext, req: MetadataRequest) -> Option<MetadataResponse> {
    let broker = &ctx.broker;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested = match req.topics {
        Some(ref t) if !(ctx.version == 0 && t.is_empty()) => Some(t.clone()),
        _ => None,
    };
    let auto_create =
        broker.config.auto_create_topics && (ctx.version < 4 || req.allow_auto_topic_creation);
    let authz = crate::security::authorizer::Authz::new(ctx);
    let mut topics = Vec::new();
    match requested {
        None => {
            // Topics the client may not describe are left out, as if they did not exist.
            let image = broker.image();
            for t in image.topics.values() {
                if authz.topic(op::DESCRIBE, &t.name) {
                    topics.push(describe(broker, t, ctx.version));
                }
            }
        }
        Some(list) => {
            for rt in list {
                let name = match (&rt.name, broker.image().topic_by_id(rt.topic_id)) {
                    (Some(n), _) => Some(n.0.to_string()),
                    (None, Some(t)) => Some(t.name.to_string()),
                    (None, None) => None,
                };
                if let Some(n) = name.as_deref().filter(|n| !authz.topic(op::DESCRIBE, n)) {
                    topics.push(
                        MetadataResponseTopic::default()
                            .with_name(rt.name.clone().or(Some(topic_name(n))))
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
                    );
                    continue;
                }
                // Auto-creation needs CREATE on the cluster or on the topic.
                let may_create = auto_create
                    && name
                        .as_deref()
                        .is_some_and(|n| authz.cluster(op::CREATE) || authz.topic(op::CREATE, n));
                let entry = match rt.name {
                    Some(name)
                        if auto_create
                            && !may_create
                            && broker.image().topic(&name.0).is_none() =>
                    {
                        MetadataResponseTopic::default()
                            .with_name(Some(name))
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    }
                    Some(name) => by_name(broker, &name.0, may_create, ctx.version).await,
                    None => by_id(broker, rt.topic_id, ctx.version),
                };
                topics.push(entry);
            }
        }
    }
    if ctx.version >= 8 && req.include_topic_authorized_operations {
        for t in &mut topics {
            if t.error_code == 0 {
                if let Some(n) = &t.name {
                    t.topic_authorized_operations = authz.operations(resource::TOPIC, &n.0);
                }
            }
        }
    }
    let mut resp = MetadataResponse::default()
        .with_brokers(live_brokers(broker))
        .with_cluster_id(Some(str_bytes(broker.cluster_id())))
        .with_controller_id(BrokerId(controller_id(broker)))
        .with_topics(topics);
    if (8..=10).contains(&ctx.version) && req.include_cluster_authorized_operations {
        resp.cluster_authorized_operations = authz.cluster_operations();
    }
    Some(resp)
}

/// The active controller's id, -1 while there is none.
pub fn controller_id(broker: &Broker) -> i32 {
    broker.quorum.controller.leader().unwrap_or(-1)
}

/// The live (registered, unfenced) brokers with their broker listener and rack.
pub fn live_brokers(broker: &Broker) -> Vec<MetadataResponseBroker> {
    let image = broker.image();
    let listed: Vec<MetadataResponseBroker> = image
        .live_brokers()
        .filter_map(|b| {
            let e = b.endpoint(&broker.config.listener_name)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(str_bytes(e.host.clone()))
                    .with_port(e.port as i32)
                    .with_rack(b.rack.clone().map(str_bytes)),
            )
        })
        .collect();
    if listed.is_empty() {
        // Not registered yet (a request while this broker starts): at least itself.
        return vec![self_broker(broker)];
    }
    listed
}

pub fn self_broker(broker: &Broker) -> MetadataResponseBroker {
    MetadataResponseBroker::default()
        .with_node_id(BrokerId(broker.config.node_id))
        .with_host(str_bytes(broker.advertised.host.clone()))
        .with_port(broker.advertised.port as i32)
        .with_rack(broker.config.rack.clone().map(str_bytes))
}

async fn by_name(
    broker: &Broker,
    name: &str,
    auto_create: bool,
    version: i16,
) -> MetadataResponseTopic {
    if let Some(t) = broker.image().topic(name) {
        return describe(broker, t, version);
    }
    let error = |code: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(topic_name(name)))
            .with_error_code(code.code())
    };
    if validate_name(name).is_err() {
        return error(ResponseError::InvalidTopicException);
    }
    if !auto_create || name.starts_with("__") {
        return error(ResponseError::UnknownTopicOrPartition);
    }
    let new = NewTopic {
        name: name.to_string(),
        partitions: -1,
        replication_factor: -1,
        assignment: None,
        configs: BTreeMap::new(),
    };
    match broker.create_topic_async(new, false).await {
        Ok(t) => describe(broker, &t, version),
        // Created by a concurrent request: describe what is there now.
        Err(e) if e.code == ResponseError::TopicAlreadyExists => match broker.image().topic(name) {
            Some(t) => describe(broker, t, version),
            None => error(ResponseError::LeaderNotAvailable),
        },
        Err(e) => {
            tracing::warn!(topic = name, error = %e.message, "auto-creating a topic failed");
            error(e.code)
        }
    }
}

fn by_id(broker: &Broker, id: uuid::Uuid, version: i16) -> MetadataResponseTopic {
    match broker.image().topic_by_id(id) {
        Some(t) => describe(broker, t, version),
        None => MetadataResponseTopic::default()
            .with_topic_id(id)
            .with_error_code(ResponseError::UnknownTopicId.code()),
    }
}

/// One topic's partitions as the image and this broker's open logs say: the leader, leader
/// epoch and ISR are the image's (a leader fenced since is reported as none). A partition
/// this broker should host but cannot open (offline: disk full, too many open files) has
/// no leader: LEADER_NOT_AVAILABLE with leader -1 and this broker among its offline
/// replicas, as Kafka answers for a partition whose only replica's log dir failed.
fn describe(broker: &Broker, t: &TopicImage, _version: i16) -> MetadataResponseTopic {
    let node = broker.config.node_id;
    let image = broker.image();
    let partitions = t
        .replicas
        .iter()
        .enumerate()
        .map(|(p, replicas)| {
            let nodes: Vec<BrokerId> = replicas.iter().map(|&r| BrokerId(r)).collect();
            let isr: Vec<BrokerId> = t.isr(p).iter().map(|&r| BrokerId(r)).collect();
            let leadership = t.leadership(p);
            let leader = leadership.map_or(-1, |l| l.leader);
            let leader_epoch = leadership.map_or(-1, |l| l.leader_epoch);
            let online = if leader == node {
                broker.partition(&t.name, p as i32).is_some()
            } else {
                leader >= 0 && image.is_live(leader)
            };
            let offline_replicas = if !online && leader == node {
                vec![BrokerId(node)]
            } else {
                Vec::new()
            };
            MetadataResponsePartition::default()
                .with_partition_index(p as i32)
                .with_error_code(if online {
                    0
                } else {
                    ResponseError::LeaderNotAvailable.code()
                })
                .with_leader_id(BrokerId(if online { leader } else { -1 }))
                .with_leader_epoch(leader_epoch)
                .with_replica_nodes(nodes)
                .with_isr_nodes(isr)
                .with_offline_replicas(offline_replicas)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&t.name)))
        .with_topic_id(t.id)
        .with_is_internal(t.name.starts_with("__"))
        .with_partitions(partitions)
}
