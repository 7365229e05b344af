//! Produce (key 0): append record batches as sent, stamping only offsets.
//!
//! Batches are validated by the storage layer (header, CRC-32C, counts) and stored
//! byte for byte; nothing here looks inside records. `acks=0` gets no response.

use super::{now_ms, str_bytes};
use crate::partition::Partition;
use crate::router::RequestContext;
use crate::topic_config;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

pub const MIN_VERSION: i16 = 3;
pub const MAX_VERSION: i16 = 11;

pub async fn handle(ctx: &RequestContext, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let bad_acks = !matches!(acks, -1..=1);
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.0.clone();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for pd in topic.partition_data {
            let resp = if bad_acks {
                failed(pd.index, ResponseError::InvalidRequiredAcks, None)
            } else {
                match ctx.broker.partition(&name, pd.index) {
                    None => failed(pd.index, ResponseError::UnknownTopicOrPartition, None),
                    Some(p) => append(ctx, &p, acks, pd.records.as_deref()),
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
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

fn append(
    ctx: &RequestContext,
    p: &Partition,
    acks: i16,
    records: Option<&[u8]>,
) -> PartitionProduceResponse {
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return failed(
            p.index,
            ResponseError::CorruptMessage,
            Some("no record batch in the request".into()),
        );
    };
    if !exactly_one_batch(records) {
        return failed(
            p.index,
            ResponseError::InvalidRecord,
            Some("produce v3+ carries exactly one record batch per partition".into()),
        );
    }
    let broker = &ctx.broker;
    if acks == -1 {
        let image = broker.image();
        let configs = image
            .topic(&p.topic)
            .map(|t| t.configs.clone())
            .unwrap_or_default();
        let required = topic_config::min_insync_replicas(&broker.config, &configs);
        // This node is the whole ISR of every partition it leads.
        let isr = 1;
        if isr < required {
            return failed(
                p.index,
                ResponseError::NotEnoughReplicas,
                Some(format!(
                    "min.insync.replicas is {required} but the ISR has {isr} replica"
                )),
            );
        }
    }
    match p.log.append(records, 0, now_ms()) {
        Ok(info) => {
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
                p.wake_waiters();
            }
            PartitionProduceResponse::default()
                .with_index(p.index)
                .with_base_offset(info.base_offset)
                .with_log_append_time_ms(info.log_append_time)
                .with_log_start_offset(info.log_start_offset)
        }
        Err(e) => {
            let code = e.kafka_error_code();
            if code == ResponseError::KafkaStorageError.code() {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "append failed");
            } else {
                tracing::debug!(topic = %p.topic, partition = p.index, error = %e, "append refused");
            }
            PartitionProduceResponse::default()
                .with_index(p.index)
                .with_error_code(code)
                .with_base_offset(-1)
                .with_error_message(Some(str_bytes(e.to_string())))
        }
    }
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
