//! CreateTopics (key 19): validate-only, configs, explicit assignments, and Kafka's
//! per-topic error codes.

use super::{str_bytes, topic_name};
use crate::router::RequestContext;
use crate::topic_config;
use crate::topics::NewTopic;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use std::collections::BTreeMap;

pub const MIN_VERSION: i16 = 2;
pub const MAX_VERSION: i16 = 7;

pub async fn handle(
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> Option<CreateTopicsResponse> {
    let dupes = super::repeated(req.topics.iter().map(|t| &*t.name.0));
    let mut results = Vec::with_capacity(req.topics.len());
    let authz = crate::security::authorizer::Authz::new(ctx);
    let cluster_create = authz.cluster(crate::security::acl::op::CREATE);
    for t in req.topics {
        let name = t.name.0.to_string();
        let result = CreatableTopicResult::default().with_name(t.name.clone());
        if !cluster_create && !authz.topic(crate::security::acl::op::CREATE, &name) {
            results.push(
                result
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            );
            continue;
        }
        if dupes.contains(&name) {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "topic `{name}` appears more than once in the request"
                    )))),
            );
            continue;
        }
        if crate::topics::is_internal(&name) {
            let e = crate::topics::internal_topic_error(&name, "create");
            tracing::warn!(topic = %name, "refused a client's CreateTopics of an internal topic");
            results.push(
                result
                    .with_error_code(e.code.code())
                    .with_error_message(Some(str_bytes(e.message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            );
            continue;
        }
        let mut configs = BTreeMap::new();
        let mut null_config = None;
        for c in &t.configs {
            match &c.value {
                Some(v) => {
                    configs.insert(c.name.to_string(), v.to_string());
                }
                None => null_config = Some(c.name.to_string()),
            }
        }
        if let Some(k) = null_config {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidConfig.code())
                    .with_error_message(Some(str_bytes(format!("config `{k}` has a null value")))),
            );
            continue;
        }
        let assignment = if t.assignments.is_empty() {
            None
        } else {
            let mut a = t.assignments.clone();
            a.sort_by_key(|x| x.partition_index);
            if a.iter()
                .enumerate()
                .any(|(i, x)| x.partition_index != i as i32)
            {
                results.push(
                    result
                        .with_error_code(ResponseError::InvalidReplicaAssignment.code())
                        .with_error_message(Some(str_bytes(
                            "partition ids in the assignment must be 0..n-1",
                        ))),
                );
                continue;
            }
            Some(
                a.into_iter()
                    .map(|x| x.broker_ids.into_iter().map(|b| b.0).collect())
                    .collect(),
            )
        };
        let new = NewTopic {
            name: name.clone(),
            partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignment,
            configs,
        };
        match ctx.broker.create_topic_async(new, req.validate_only).await {
            Ok(topic) => {
                let rf = topic.replicas.first().map_or(0, |r| r.len()) as i16;
                let mut r = result
                    .with_num_partitions(topic.partition_count())
                    .with_replication_factor(rf);
                if ctx.version >= 7 {
                    r = r.with_topic_id(topic.id);
                }
                if ctx.version >= 5 {
                    let entries =
                        topic_config::effective(&ctx.broker.live_config(), &topic.configs)
                            .into_iter()
                            .map(|(k, v, source)| {
                                CreatableTopicConfigs::default()
                                    .with_name(str_bytes(k.name))
                                    .with_value(Some(str_bytes(v)))
                                    .with_config_source(source as i8)
                            })
                            .collect();
                    r = r.with_configs(Some(entries));
                }
                results.push(r);
            }
            Err(e) => {
                results.push(
                    result
                        .with_error_code(e.code.code())
                        .with_error_message(Some(str_bytes(e.message)))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1),
                );
            }
        }
    }
    let _ = topic_name;
    Some(CreateTopicsResponse::default().with_topics(results))
}
