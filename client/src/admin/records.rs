//! Produce and Fetch for quick checks by hand (`fjord topic produce|consume`): one partition at
//! a time, sent to its leader, records encoded and decoded with kafka-protocol's batch codec.
//!
//! Produced batches are uncompressed. Fetched batches are decoded whatever their codec
//! (kafka-protocol's gzip, snappy, lz4 and zstd); a batch decompresses in memory whole, which
//! suits a tool reading a few batches at a time.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{BrokerId, FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};

use super::{AdminClient, Retry};
use crate::ClientError;

/// Bytes of a batch header before its length field ends: base offset (8) and length (4).
const BATCH_LENGTH_END: usize = 12;

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// Record key.
    pub key: Option<Bytes>,
    /// Record value (`None` is a tombstone).
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// CreateTime in ms since the epoch.
    pub timestamp: i64,
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecord {
    /// Offset in the partition.
    pub offset: i64,
    /// Timestamp in ms since the epoch.
    pub timestamp: i64,
    /// Record key.
    pub key: Option<Bytes>,
    /// Record value.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What one Fetch returned for a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    /// The partition's high watermark: consumers can read up to (excluding) it.
    pub high_watermark: i64,
    /// The partition's log start offset.
    pub log_start_offset: i64,
    /// Data records at or after the requested offset (control records left out).
    pub records: Vec<FetchedRecord>,
    /// The offset to fetch next.
    pub next_offset: i64,
}

impl AdminClient {
    /// Appends `records` to one partition in one uncompressed batch and returns the offset of
    /// the first. `acks` is Kafka's: -1 (all in-sync replicas), 1 (leader) — 0 is not offered
    /// since nothing would come back to report.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: &[NewRecord],
        acks: i16,
    ) -> Result<i64, ClientError> {
        let addr = self.leader_address(topic, partition).await?;
        let batch = encode_batch(records)?;
        let timeout_ms = self.operation_timeout_ms();
        let data = TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))]);
        // v3..v12 name topics (v13 by id).
        let versions = VersionRange { min: 3, max: 12 };
        let (response, _) = self
            .call_at(&addr, versions, Retry::Never, |_| {
                ProduceRequest::default()
                    .with_acks(acks)
                    .with_timeout_ms(timeout_ms)
                    .with_topic_data(vec![data.clone()])
            })
            .await?;
        let result = response
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
            .ok_or_else(|| ClientError::Protocol("Produce response is empty".into()))?;
        ClientError::check(
            "Produce",
            result.error_code,
            result.error_message.as_deref(),
        )?;
        Ok(result.base_offset)
    }

    /// One Fetch of `partition` from `offset`, waiting up to `max_wait_ms` for data, reading up
    /// to `max_bytes` (the first batch is returned whole even if larger, as Kafka does).
    pub async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: i32,
        max_wait_ms: i32,
    ) -> Result<FetchedPartition, ClientError> {
        let addr = self.leader_address(topic, partition).await?;
        let request_topic = FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(max_bytes)]);
        // v4..v12 name topics (v13 by id).
        let versions = VersionRange { min: 4, max: 12 };
        let (response, _) = self
            .call_at(&addr, versions, Retry::Once, |_| {
                FetchRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_max_wait_ms(max_wait_ms)
                    .with_min_bytes(1)
                    .with_max_bytes(max_bytes)
                    .with_isolation_level(0)
                    .with_session_epoch(-1)
                    .with_topics(vec![request_topic.clone()])
            })
            .await?;
        ClientError::check("Fetch", response.error_code, None)?;
        let data = response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| ClientError::Protocol("Fetch response is empty".into()))?;
        ClientError::check("Fetch", data.error_code, None)?;
        let (records, next_offset) =
            decode_records(data.records.clone().unwrap_or_default(), offset)?;
        Ok(FetchedPartition {
            high_watermark: data.high_watermark,
            log_start_offset: data.log_start_offset,
            records,
            next_offset,
        })
    }
}

fn encode_batch(records: &[NewRecord]) -> Result<Bytes, ClientError> {
    let records: Vec<Record> = records
        .iter()
        .zip(0i64..)
        .map(|(r, i)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i,
            // The encoder starts a new batch wherever `offset - sequence` changes; moving both
            // together keeps one batch (Produce v3+ takes one per partition) whose header
            // carries the first record's sequence, NO_SEQUENCE, as a non-idempotent batch must.
            sequence: NO_SEQUENCE.wrapping_add(i32::try_from(i).unwrap_or(i32::MAX)),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options)
        .map_err(|e| ClientError::Protocol(format!("encoding the record batch: {e}")))?;
    Ok(buf.freeze())
}

/// Decodes the whole batches in `bytes` (a Fetch may end with a partial batch, which is left
/// for the next fetch) and returns the data records at or after `from` and the offset to fetch
/// next.
fn decode_records(mut bytes: Bytes, from: i64) -> Result<(Vec<FetchedRecord>, i64), ClientError> {
    let mut out = Vec::new();
    let mut next = from;
    while bytes.len() >= BATCH_LENGTH_END {
        let length = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let Ok(length) = usize::try_from(length) else {
            return Err(ClientError::Protocol(format!("batch length {length}")));
        };
        let total = BATCH_LENGTH_END.saturating_add(length);
        if total > bytes.len() {
            break;
        }
        let mut batch = bytes.split_to(total);
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|e| ClientError::Protocol(format!("decoding a record batch: {e}")))?;
        for r in set.records {
            next = next.max(r.offset.saturating_add(1));
            if r.control || r.offset < from {
                continue;
            }
            out.push(FetchedRecord {
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            });
        }
    }
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: &str) -> NewRecord {
        NewRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: vec![("h".into(), Some(Bytes::from_static(b"v")))],
            timestamp: 1_700_000_000_000,
        }
    }

    #[test]
    fn encoded_batches_decode_back_from_the_requested_offset() {
        let batch = encode_batch(&[record("a"), record("b"), record("c")]).unwrap();
        let (records, next) = decode_records(batch, 1).unwrap();
        let values: Vec<_> = records.iter().map(|r| r.value.clone().unwrap()).collect();
        assert_eq!(
            values,
            vec![Bytes::from_static(b"b"), Bytes::from_static(b"c")]
        );
        assert_eq!(next, 3);
        assert_eq!(
            records[0].headers,
            vec![("h".to_owned(), Some(Bytes::from_static(b"v")))]
        );
    }

    #[test]
    fn several_records_make_one_non_idempotent_batch() {
        let batch = encode_batch(&[record("a"), record("b"), record("c")]).unwrap();
        let infos = RecordBatchDecoder::decode_batch_info(&mut batch.clone()).unwrap();
        assert_eq!(infos.len(), 1);
        assert_eq!(
            (infos[0].record_count, infos[0].base_sequence),
            (3, NO_SEQUENCE)
        );
    }

    #[test]
    fn compressed_batches_are_decoded() {
        let records: Vec<Record> = [record("z1"), record("z2")]
            .iter()
            .zip(0i64..)
            .map(|(r, i)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: NO_SEQUENCE.wrapping_add(i as i32),
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: IndexMap::new(),
            })
            .collect();
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut buf = BytesMut::new();
            let options = RecordEncodeOptions {
                version: 2,
                compression,
            };
            RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
            let (decoded, next) = decode_records(buf.freeze(), 0).unwrap();
            let values: Vec<_> = decoded.iter().map(|r| r.value.clone().unwrap()).collect();
            assert_eq!(
                values,
                vec![Bytes::from_static(b"z1"), Bytes::from_static(b"z2")],
                "{compression:?}"
            );
            assert_eq!(next, 2);
        }
    }

    #[test]
    fn a_trailing_partial_batch_is_left_for_the_next_fetch() {
        let whole = encode_batch(&[record("a")]).unwrap();
        let mut two = BytesMut::from(&whole[..]);
        two.extend_from_slice(&whole[..whole.len() - 3]);
        let (records, next) = decode_records(two.freeze(), 0).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(next, 1);
    }
}
