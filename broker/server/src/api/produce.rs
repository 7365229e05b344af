//! Produce (key 0): validate each partition's batch as Kafka's `LogValidator` does, then
//! append it.
//!
//! Internal topics are refused first (Kafka's `ReplicaManager`). The storage validator decodes
//! every record with bounds, applies the topic's timestamp and key rules, corrects the batch's
//! max timestamp and recompresses per `compression.type`; with nothing to change the bytes are
//! stored as sent. A refused batch gets its error code, message and, from v8, the per-record
//! `record_errors`, and nothing of it is written. `acks=0` gets no response.
//!
//! Validation and the append (a `pwrite`, sometimes a roll, and with `flush.messages` an
//! fsync grouped with concurrent produces) run on tokio's blocking pool, one task per
//! request: a slow disk then holds up that request, never the runtime's worker threads and
//! the other connections they serve. A log whose write or fsync failed beyond repair takes
//! its partition offline; the broker's offline retry reopens it (recovery cuts what is torn).

use super::{now_ms, str_bytes};
use crate::broker::Broker;
use crate::leadership::NO_EPOCH;
use crate::partition::Partition;
use crate::router::RequestContext;
use crate::topic_config::{self, CompressionType};
use bytes::Bytes;
use fjord_storage::validate::{self, Rejection, ValidationConfig};
use fjord_storage::StorageError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use std::collections::BTreeMap;
use std::sync::Arc;

#[path = "produce_acks_all.rs"]
mod acks_all;

pub const MIN_VERSION: i16 = 3;
pub const MAX_VERSION: i16 = 11;

pub async fn handle(ctx: &RequestContext, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let bad_acks = !matches!(acks, -1..=1);
    // The appends to run off the runtime.
    let mut appends: Vec<Append> = Vec::new();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let authz = crate::security::authorizer::Authz::new(ctx);
    for (t, topic) in req.topic_data.into_iter().enumerate() {
        let name = topic.name.0.clone();
        let allowed = authz.topic(crate::security::acl::op::WRITE, &name);
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for pd in topic.partition_data {
            let resp = if bad_acks {
                failed(pd.index, ResponseError::InvalidRequiredAcks, None)
            } else if !allowed {
                failed(pd.index, ResponseError::TopicAuthorizationFailed, None)
            } else if is_internal(&name) {
                failed(
                    pd.index,
                    ResponseError::InvalidTopicException,
                    Some(format!("Cannot append to internal topic {}", &*name)),
                )
            } else {
                // Produce carries no leader epoch: only leadership is checked.
                match ctx.broker.leader_partition(&name, pd.index, NO_EPOCH) {
                    Err(code) => failed(pd.index, code, None),
                    Ok((p, epoch)) => {
                        appends.push((t, partitions.len(), p, epoch, pd.records));
                        // Replaced by the append's answer below.
                        failed(pd.index, ResponseError::UnknownServerError, None)
                    }
                }
            };
            partitions.push(resp);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    if !appends.is_empty() {
        let broker = ctx.broker.clone();
        let done = crate::blocking::spawn(move || append_all(&broker, acks, appends)).await;
        match done {
            Ok(done) => {
                let deadline = tokio::time::Instant::now()
                    + std::time::Duration::from_millis(req.timeout_ms.max(0) as u64);
                for (t, i, mut resp, committed) in done {
                    if let (-1, Some((p, required))) = (acks, committed) {
                        if let Some(code) = acks_all::wait(&p, required, deadline).await {
                            resp = failed(resp.index, code, None);
                        }
                    }
                    responses[t].partition_responses[i] = resp;
                }
            }
            // A panic in the append is a bug; it was logged by the panic hook, and the
            // placeholders answer UNKNOWN_SERVER_ERROR.
            Err(e) => tracing::error!(error = %e, "produce append task failed"),
        }
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// (topic index, slot index, response, and for an append to wait on with `acks=all`, the
/// partition and the offset after the batch).
type Done = (
    usize,
    usize,
    PartitionProduceResponse,
    Option<(Arc<Partition>, i64)>,
);

/// (topic index, slot index, partition, its leader epoch, records) of one append.
type Append = (usize, usize, Arc<Partition>, i32, Option<Bytes>);

/// A request's appends, on the blocking pool: every partition's append first, then the
/// fsyncs `flush.messages`/`flush.ms` ask for, concurrently across partitions (each grouped
/// with other requests' fsyncs of the same log), so a request to N partitions waits for
/// about one fsync, not N in a row. Answers `(topic index, partition slot, response)`.
fn append_all(broker: &Broker, acks: i16, appends: Vec<Append>) -> Vec<Done> {
    let mut done: Vec<Done> = Vec::with_capacity(appends.len());
    let mut syncs = Vec::new();
    for (t, i, p, epoch, records) in appends {
        let (resp, sync, required) = append(broker, &p, epoch, acks, records.as_deref());
        if let Some(end) = sync {
            syncs.push((done.len(), p.clone(), end));
        }
        done.push((t, i, resp, required.map(|r| (p, r))));
    }
    let results: Vec<Result<(), StorageError>> = if syncs.len() <= 1 {
        syncs
            .iter()
            .map(|(_, p, end)| p.log.sync_to(*end))
            .collect()
    } else {
        std::thread::scope(|scope| {
            let running: Vec<_> = syncs
                .iter()
                .map(|(_, p, end)| {
                    let sync = move || p.log.sync_to(*end);
                    // Without a thread (resource limits), sync here: slower, still correct.
                    std::thread::Builder::new()
                        .name("fjord-fsync".into())
                        .spawn_scoped(scope, sync)
                        .map_err(|_| sync())
                })
                .collect();
            running
                .into_iter()
                .map(|r| match r {
                    Ok(handle) => handle
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    Err(inline) => inline,
                })
                .collect()
        })
    };
    for ((k, p, _), result) in syncs.iter().zip(results) {
        if let Err(e) = result {
            done[*k].2 = storage_failed(broker, p, &e);
            done[*k].3 = None;
        }
    }
    done
}

/// Validates and appends one partition's batch; `Some(end)` when the answer must wait for
/// [`fjord_storage::Log::sync_to`]`(end)`.
fn append(
    broker: &Broker,
    p: &Arc<Partition>,
    leader_epoch: i32,
    acks: i16,
    records: Option<&[u8]>,
) -> (PartitionProduceResponse, Option<i64>, Option<i64>) {
    let done = |resp| (resp, None, None);
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return done(failed(
            p.index,
            ResponseError::CorruptMessage,
            Some("no record batch in the request".into()),
        ));
    };
    if !exactly_one_batch(records) {
        return done(failed(
            p.index,
            ResponseError::InvalidRecord,
            Some("produce v3+ carries exactly one record batch per partition".into()),
        ));
    }
    let image = broker.image();
    let no_overrides = BTreeMap::new();
    let configs = image.topic(&p.topic).map_or(&no_overrides, |t| &t.configs);
    // The configuration in force, dynamic broker configs included.
    let live = broker.live_config();
    if acks == -1 {
        let required = topic_config::min_insync_replicas(&live, configs);
        // The ISR as this leader knows it (1 for a sole replica).
        let isr = p.isr_len().unwrap_or(0) as i32;
        if isr < required {
            return done(failed(
                p.index,
                ResponseError::NotEnoughReplicas,
                Some(format!(
                    "min.insync.replicas is {required} but the ISR has {isr} replica"
                )),
            ));
        }
    }
    let now = now_ms();
    let (timestamp_before_max_ms, timestamp_after_max_ms) =
        topic_config::timestamp_bounds(&live, configs);
    let rules = ValidationConfig {
        timestamp_before_max_ms,
        timestamp_after_max_ms,
        target_compression: codec(topic_config::compression_type(&live, configs)),
        ..ValidationConfig::for_log(&p.log.config())
    };
    let validated = match validate::validate_produced(records, &rules, now) {
        Ok(v) => v,
        Err(rejection) => return done(rejected(p, rejection)),
    };
    match p.log.append_unsynced(&validated, leader_epoch, now) {
        Ok((info, sync)) => {
            if !info.duplicate {
                let topic = &*p.topic;
                broker
                    .metrics
                    .bytes_in
                    .with_label_values(&[topic])
                    .inc_by(records.len() as u64);
                broker
                    .metrics
                    .messages_in
                    .with_label_values(&[topic])
                    .inc_by(info.record_count.max(0) as u64);
                // The leader's replication state learns the new log end before any fetch
                // is woken: a follower that fetches the batch and comes back at once must
                // find it counted, or its fetch offset is capped at the old end and the
                // high watermark waits for its next fetch (up to its max wait).
                let changes = p.leader_appended();
                broker.replication.propose(&p.topic, p.index, changes);
                p.wake_waiters();
            }
            let resp = PartitionProduceResponse::default()
                .with_index(p.index)
                .with_base_offset(info.base_offset)
                .with_log_append_time_ms(info.log_append_time)
                .with_log_start_offset(info.log_start_offset);
            (resp, sync, Some(info.last_offset + 1))
        }
        Err(e) => done(storage_failed(broker, p, &e)),
    }
}

/// The answer for an append or fsync the log refused or failed. A log that failed beyond
/// repair takes its partition offline (later requests: NOT_LEADER_OR_FOLLOWER).
fn storage_failed(
    broker: &Broker,
    p: &Arc<Partition>,
    e: &StorageError,
) -> PartitionProduceResponse {
    let code = e.kafka_error_code();
    if code == ResponseError::KafkaStorageError.code() {
        tracing::error!(topic = %p.topic, partition = p.index, error = %e, "append failed");
        if let Some(reason) = p.log.failure() {
            broker.take_offline(p, &reason);
        }
    } else {
        tracing::debug!(topic = %p.topic, partition = p.index, error = %e, "append refused");
    }
    PartitionProduceResponse::default()
        .with_index(p.index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_error_message(Some(str_bytes(e.to_string())))
}

/// Topics only the broker writes: Kafka's `Topic.isInternal`, plus the metadata log's name.
fn is_internal(topic: &str) -> bool {
    matches!(
        topic,
        "__consumer_offsets" | "__transaction_state" | "__cluster_metadata"
    )
}

/// The codec id for a `compression.type` value; `None` keeps the producer's codec.
/// The codec id a batch is stored in, `None` to keep the producer's.
fn codec(compression_type: CompressionType) -> Option<i16> {
    match compression_type {
        CompressionType::Producer => None,
        CompressionType::Uncompressed => Some(0),
        CompressionType::Gzip => Some(1),
        CompressionType::Snappy => Some(2),
        CompressionType::Lz4 => Some(3),
        CompressionType::Zstd => Some(4),
    }
}

/// The answer for a batch the validator refused (KIP-467's `record_errors` from v8; older
/// versions drop the field when encoding).
fn rejected(p: &Partition, rejection: Rejection) -> PartitionProduceResponse {
    tracing::debug!(topic = %p.topic, partition = p.index, error = %rejection, "batch refused");
    let record_errors = rejection
        .record_errors
        .iter()
        .map(|e| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(e.batch_index)
                .with_batch_index_error_message(Some(str_bytes(e.message.clone())))
        })
        .collect();
    PartitionProduceResponse::default()
        .with_index(p.index)
        .with_error_code(rejection.error.kafka_error_code())
        .with_base_offset(-1)
        .with_error_message(Some(str_bytes(rejection.to_string())))
        .with_record_errors(record_errors)
}

/// Kafka requires exactly one v2 batch per partition from Produce v3 on. The batch
/// length field (bytes 8..12) says where the first batch ends.
fn exactly_one_batch(records: &[u8]) -> bool {
    match records.get(8..12) {
        Some(len) => {
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            // Shorter than claimed is a truncated batch: storage reports it as corrupt.
            len < 0 || records.len() as u64 <= 12 + len as u64
        }
        // Too short to say: let the storage layer report it as corrupt.
        None => true,
    }
}

fn failed(index: i32, code: ResponseError, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code.code())
        .with_base_offset(-1)
        .with_error_message(message.map(str_bytes))
}
