//! DeleteTopics (key 20): by name (all versions) and by topic id (v6+).

use super::{str_bytes, topic_name};
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use uuid::Uuid;

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 6;

pub async fn handle(
    ctx: &RequestContext,
    req: DeleteTopicsRequest,
) -> Option<DeleteTopicsResponse> {
    // v0-5 name topics in `topic_names`; v6 uses `topics` with a name or an id.
    let targets: Vec<(Option<String>, Uuid)> = if ctx.version >= 6 {
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let mut results = Vec::with_capacity(targets.len());
    let authz = crate::security::authorizer::Authz::new(ctx);
    for (name, id) in targets {
        let image = ctx.broker.image();
        let found = match &name {
            Some(n) => image.topic(n),
            None => image.topic_by_id(id),
        };
        let mut r = DeletableTopicResult::default();
        if ctx.version >= 6 {
            r = r.with_topic_id(id);
        }
        r = r.with_name(name.as_deref().map(topic_name));
        let described = found.map(|t| t.name.to_string()).or(name.clone());
        if described.is_some_and(|n| !authz.topic(crate::security::acl::op::DELETE, &n)) {
            // Kafka: a topic the client may not delete is TOPIC_AUTHORIZATION_FAILED whether
            // or not it exists (so existence is not disclosed).
            results.push(r.with_error_code(ResponseError::TopicAuthorizationFailed.code()));
            continue;
        }
        let Some(topic) = found else {
            let code = if name.is_some() {
                ResponseError::UnknownTopicOrPartition
            } else {
                ResponseError::UnknownTopicId
            };
            results.push(r.with_error_code(code.code()));
            continue;
        };
        if name.is_some() && !id.is_nil() && topic.id != id {
            results.push(
                r.with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes("name and topic id name different topics"))),
            );
            continue;
        }
        if crate::topics::is_internal(&topic.name) {
            let e = crate::topics::internal_topic_error(&topic.name, "delete");
            tracing::warn!(topic = %topic.name, "refused a client's DeleteTopics of an internal topic");
            results.push(
                r.with_name(Some(topic_name(&topic.name)))
                    .with_error_code(e.code.code())
                    .with_error_message(Some(str_bytes(e.message))),
            );
            continue;
        }
        let (tid, tname) = (topic.id, topic.name.clone());
        match ctx.broker.delete_topic(tid).await {
            Ok(_) => {
                r = r.with_name(Some(topic_name(&tname)));
                if ctx.version >= 6 {
                    r = r.with_topic_id(tid);
                }
                results.push(r);
            }
            Err(e) => results.push(
                r.with_error_code(e.code.code())
                    .with_error_message(Some(str_bytes(e.message))),
            ),
        }
    }
    Some(DeleteTopicsResponse::default().with_responses(results))
}
