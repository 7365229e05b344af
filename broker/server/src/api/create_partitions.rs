//! CreatePartitions (key 37): grow a topic, with or without an explicit assignment.

use super::str_bytes;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 3;

pub async fn handle(
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> Option<CreatePartitionsResponse> {
    let dupes = super::repeated(req.topics.iter().map(|t| &*t.name.0));
    let mut results = Vec::with_capacity(req.topics.len());
    let authz = crate::security::authorizer::Authz::new(ctx);
    for t in req.topics {
        let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        if !authz.topic(crate::security::acl::op::ALTER, &t.name.0) {
            results.push(r.with_error_code(ResponseError::TopicAuthorizationFailed.code()));
            continue;
        }
        if dupes.contains(&*t.name.0) {
            results.push(
                r.with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(
                        "topic appears more than once in the request",
                    ))),
            );
            continue;
        }
        if crate::topics::is_internal(&t.name.0) {
            let e = crate::topics::internal_topic_error(&t.name.0, "add partitions to");
            results.push(
                r.with_error_code(e.code.code())
                    .with_error_message(Some(str_bytes(e.message))),
            );
            continue;
        }
        let assignment = t.assignments.map(|a| {
            a.into_iter()
                .map(|x| x.broker_ids.into_iter().map(|b| b.0).collect())
                .collect()
        });
        let outcome = ctx
            .broker
            .create_partitions(&t.name.0, t.count, assignment, req.validate_only)
            .await;
        results.push(match outcome {
            Ok(()) => r,
            Err(e) => r
                .with_error_code(e.code.code())
                .with_error_message(Some(str_bytes(e.message))),
        });
    }
    Some(CreatePartitionsResponse::default().with_results(results))
}
