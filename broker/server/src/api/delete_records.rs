//! DeleteRecords (key 21): raise a partition's log start offset.

use crate::broker::Broker;
use crate::router::RequestContext;
use fjord_storage::StorageError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 2;

pub async fn handle(
    ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> Option<DeleteRecordsResponse> {
    let authz = crate::security::authorizer::Authz::new(ctx);
    let allowed: Vec<bool> = (req.topics.iter())
        .map(|t| authz.topic(crate::security::acl::op::DELETE, &t.name.0))
        .collect();
    let broker = ctx.broker.clone();
    // The lookups read segments: on the blocking pool, never on a worker thread.
    match crate::blocking::spawn(move || answer(&broker, req, allowed)).await {
        Ok(resp) => Some(resp),
        Err(e) => {
            tracing::error!(error = %e, "DeleteRecords task failed");
            None
        }
    }
}

/// `allowed[i]`: whether the principal may delete records of the request's `i`th topic.
fn answer(broker: &Broker, req: DeleteRecordsRequest, allowed: Vec<bool>) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .zip(allowed)
        .map(|(t, allowed)| {
            let partitions = t
                .partitions
                .iter()
                .map(|dp| {
                    let r = DeleteRecordsPartitionResult::default().with_partition_index(dp.partition_index).with_low_watermark(-1);
                    if !allowed {
                        return r.with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    // Kafka's ReplicaManager answers INVALID_TOPIC_EXCEPTION here.
                    if crate::topics::is_internal(&t.name.0) {
                        return r.with_error_code(ResponseError::InvalidTopicException.code());
                    }
                    let Some(p) = broker.partition(&t.name.0, dp.partition_index) else {
                        return r.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    // -1 means "up to the high watermark", as in Kafka.
                    let offset = if dp.offset == -1 { p.high_watermark() } else { dp.offset };
                    if offset < 0 || offset > p.high_watermark() {
                        return r.with_error_code(ResponseError::OffsetOutOfRange.code());
                    }
                    match p.log.delete_records_before(offset) {
                        Ok(low) => r.with_low_watermark(low),
                        Err(e @ StorageError::OffsetOutOfRange { .. }) => {
                            tracing::debug!(error = %e, "delete records out of range");
                            r.with_error_code(ResponseError::OffsetOutOfRange.code())
                        }
                        Err(e) => {
                            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "delete records failed");
                            r.with_error_code(e.kafka_error_code())
                        }
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
