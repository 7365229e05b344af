//! Fetch (key 1): whole batches from the log, up to the high watermark, with
//! long-polling until `min_bytes` arrive or `max_wait_ms` passes.
//!
//! Fetch sessions (KIP-227) are declined the way the protocol allows: a request to
//! open a session gets `session_id = 0`, so clients keep sending full fetches.

use crate::partition::Partition;
use crate::router::RequestContext;
use bytes::Bytes;
use fjord_storage::StorageError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub const MIN_VERSION: i16 = 4;
pub const MAX_VERSION: i16 = 12;

/// The leader epoch of every partition on a single node (no elections happen).
const LEADER_EPOCH: i32 = 0;

pub async fn handle(ctx: &RequestContext, req: FetchRequest) -> Option<FetchResponse> {
    if let Some(code) = session_error(&req) {
        return Some(FetchResponse::default().with_error_code(code.code()));
    }
    if req.replica_id.0 >= 0 {
        // Follower fetches come with replication; a single node has no followers.
        let resp = FetchResponse::default().with_responses(
            req.topics
                .iter()
                .map(|t| {
                    FetchableTopicResponse::default()
                        .with_topic(t.topic.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| error(p.partition, ResponseError::NotLeaderOrFollower))
                                .collect(),
                        )
                })
                .collect(),
        );
        return Some(resp);
    }
    let partitions: Vec<Vec<Option<Arc<Partition>>>> = req
        .topics
        .iter()
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| ctx.broker.partition(&t.topic.0, p.partition))
                .collect()
        })
        .collect();
    let max_wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let deadline = tokio::time::Instant::now() + max_wait;
    let waker = Arc::new(Notify::new());
    loop {
        // Park before reading, so an append between the read and the wait still wakes us.
        for p in partitions.iter().flatten().flatten() {
            p.watch(&waker);
        }
        let (responses, bytes, failed) = read_all(ctx, &req, &partitions);
        let done = bytes >= req.min_bytes.max(0) as usize
            || failed
            || tokio::time::Instant::now() >= deadline;
        if done {
            for (t, topic) in responses.iter().zip(&req.topics) {
                let n: usize = t
                    .partitions
                    .iter()
                    .map(|p| p.records.as_ref().map_or(0, Bytes::len))
                    .sum();
                if n > 0 {
                    ctx.broker
                        .metrics
                        .bytes_out
                        .with_label_values(&[&*topic.topic.0])
                        .inc_by(n as u64);
                }
            }
            return Some(
                FetchResponse::default()
                    .with_session_id(0)
                    .with_responses(responses),
            );
        }
        if tokio::time::timeout_at(deadline, waker.notified())
            .await
            .is_err()
        {
            // Timed out: one last read answers with whatever is there.
            let (responses, _, _) = read_all(ctx, &req, &partitions);
            return Some(
                FetchResponse::default()
                    .with_session_id(0)
                    .with_responses(responses),
            );
        }
    }
}

/// KIP-227 without sessions: only sessionless full fetches are served.
fn session_error(req: &FetchRequest) -> Option<ResponseError> {
    match (req.session_id, req.session_epoch) {
        // Full fetch without a session, or a request to open one (declined by id 0).
        (0, -1) | (0, 0) => None,
        // Closing a session: none exists, so serve it as a sessionless fetch.
        (_, -1) => None,
        (0, _) => Some(ResponseError::InvalidFetchSessionEpoch),
        (_, _) => Some(ResponseError::FetchSessionIdNotFound),
    }
}

/// Reads every requested partition once. Returns the responses, total record bytes,
/// and whether any partition failed (a failure answers at once).
fn read_all(
    ctx: &RequestContext,
    req: &FetchRequest,
    partitions: &[Vec<Option<Arc<Partition>>>],
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut remaining = if ctx.version >= 3 {
        req.max_bytes.max(0) as usize
    } else {
        i32::MAX as usize
    };
    let mut total = 0usize;
    let mut failed = false;
    let mut out = Vec::with_capacity(req.topics.len());
    for (topic, parts) in req.topics.iter().zip(partitions) {
        let mut resps = Vec::with_capacity(topic.partitions.len());
        for (fp, part) in topic.partitions.iter().zip(parts) {
            let Some(p) = part else {
                failed = true;
                resps.push(error(fp.partition, ResponseError::UnknownTopicOrPartition));
                continue;
            };
            if ctx.version >= 9 && fp.current_leader_epoch > LEADER_EPOCH {
                failed = true;
                resps.push(error(fp.partition, ResponseError::UnknownLeaderEpoch));
                continue;
            }
            let hwm = p.high_watermark();
            let limit = (fp.partition_max_bytes.max(0) as usize).min(remaining);
            let min_one = total == 0;
            let resp = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_high_watermark(hwm)
                .with_last_stable_offset(hwm)
                .with_log_start_offset(p.log.log_start_offset());
            let resp = if limit == 0 && !min_one {
                resp
            } else {
                match p.log.read(fp.fetch_offset, limit, hwm, min_one) {
                    Ok(r) => {
                        total += r.records.len();
                        remaining = remaining.saturating_sub(r.records.len());
                        resp.with_records(Some(r.records))
                    }
                    Err(e @ StorageError::OffsetOutOfRange { .. }) => {
                        tracing::debug!(topic = %p.topic, partition = p.index, error = %e, "fetch out of range");
                        failed = true;
                        resp.with_error_code(ResponseError::OffsetOutOfRange.code())
                    }
                    Err(e) => {
                        tracing::error!(topic = %p.topic, partition = p.index, error = %e, "read failed");
                        failed = true;
                        resp.with_error_code(e.kafka_error_code())
                    }
                }
            };
            resps.push(resp);
        }
        out.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_partitions(resps),
        );
    }
    (out, total, failed)
}

fn error(partition: i32, code: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(code.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
}
