//! ListOffsets (key 2): earliest, latest, max timestamp, or the first offset whose
//! timestamp is at least a given time.

use crate::broker::Broker;
use crate::leadership::NO_EPOCH;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 7;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub async fn handle(ctx: &RequestContext, req: ListOffsetsRequest) -> Option<ListOffsetsResponse> {
    let authz = crate::security::authorizer::Authz::new(ctx);
    let allowed: Vec<bool> = (req.topics.iter())
        .map(|t| authz.topic(crate::security::acl::op::DESCRIBE, &t.name.0))
        .collect();
    let (broker, version) = (ctx.broker.clone(), ctx.version);
    // The lookups read segments: on the blocking pool, never on a worker thread.
    match crate::blocking::spawn(move || answer(&broker, version, req, allowed)).await {
        Ok(resp) => Some(resp),
        Err(e) => {
            tracing::error!(error = %e, "ListOffsets task failed");
            None
        }
    }
}

/// `allowed[i]`: whether the principal may describe the request's `i`th topic.
fn answer(
    broker: &Broker,
    version: i16,
    req: ListOffsetsRequest,
    allowed: Vec<bool>,
) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .zip(allowed)
        .map(|(t, allowed)| {
            let partitions = t
                .partitions
                .iter()
                .map(|lp| {
                    let resp = ListOffsetsPartitionResponse::default().with_partition_index(lp.partition_index);
                    if !allowed {
                        return resp.with_error_code(ResponseError::TopicAuthorizationFailed.code()).with_offset(-1).with_timestamp(-1);
                    }
                    let epoch = if version >= 4 { lp.current_leader_epoch } else { NO_EPOCH };
                    let (p, leader_epoch) = match broker.leader_partition(&t.name.0, lp.partition_index, epoch) {
                        Ok(found) => found,
                        Err(code) => return resp.with_error_code(code.code()).with_offset(-1).with_timestamp(-1),
                    };
                    // KIP-320: the epoch that wrote the offset found (the current one for the
                    // high watermark, as Kafka answers), so a client can validate it later.
                    let written_by = |offset: i64| p.log.epoch_for_offset(offset).unwrap_or(-1);
                    let found = match lp.timestamp {
                        LATEST => Ok(Some((-1, p.high_watermark(), leader_epoch))),
                        EARLIEST => {
                            let start = p.log.log_start_offset();
                            Ok(Some((-1, start, written_by(start))))
                        }
                        MAX_TIMESTAMP if version >= 7 => Ok(p.log.max_timestamp_offset().map(|t| (t.timestamp, t.offset, written_by(t.offset)))),
                        ts if ts >= 0 => p.log.offset_for_timestamp(ts).map(|o| o.map(|t| (t.timestamp, t.offset, written_by(t.offset)))),
                        _ => return resp.with_error_code(ResponseError::InvalidRequest.code()).with_offset(-1).with_timestamp(-1),
                    };
                    match found {
                        Ok(Some((timestamp, offset, epoch))) => {
                            let resp = resp.with_timestamp(timestamp).with_offset(offset);
                            if version >= 4 { resp.with_leader_epoch(epoch) } else { resp }
                        }
                        Ok(None) => resp.with_timestamp(-1).with_offset(-1),
                        Err(e) => {
                            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "offset lookup failed");
                            resp.with_error_code(e.kafka_error_code()).with_timestamp(-1).with_offset(-1)
                        }
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
