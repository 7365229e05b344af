//! Test helper: v2 batches built with kafka-protocol's encoder, as a producer would send them.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

pub(crate) struct BatchBuilder {
    records: Vec<Record>,
    compression: Compression,
}

impl BatchBuilder {
    /// `count` records with timestamps 1000, 1001, ... and keys `k0`, `k1`, ...
    pub(crate) fn new(count: usize) -> Self {
        let records = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder groups records whose offset - sequence is constant; base sequence -1.
                sequence: i as i32 - 1,
                timestamp: 1000 + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("value-{i}"))),
                headers: Default::default(),
            })
            .collect();
        BatchBuilder {
            records,
            compression: Compression::None,
        }
    }

    pub(crate) fn timestamps(mut self, ts: &[i64]) -> Self {
        for (r, t) in self.records.iter_mut().zip(ts) {
            r.timestamp = *t;
        }
        self
    }

    pub(crate) fn keys(mut self, keys: &[&str]) -> Self {
        for (r, k) in self.records.iter_mut().zip(keys) {
            r.key = Some(Bytes::from(k.to_string()));
        }
        self
    }

    pub(crate) fn value_len(mut self, len: usize) -> Self {
        for r in &mut self.records {
            r.value = Some(Bytes::from(vec![b'x'; len]));
        }
        self
    }

    pub(crate) fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        for (i, r) in self.records.iter_mut().enumerate() {
            r.producer_id = id;
            r.producer_epoch = epoch;
            r.sequence = base_sequence.wrapping_add(i as i32);
        }
        self
    }

    pub(crate) fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    pub(crate) fn build(self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: self.compression,
        };
        RecordBatchEncoder::encode(&mut buf, self.records.iter(), &options)
            .expect("test batches encode");
        buf.to_vec()
    }
}

use crate::{LogConfig, StorageError};

/// Small segments and an index entry after every batch, so tests roll and index.
pub(crate) fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 1,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// Splits stored bytes into batch headers, checking each CRC: what a consumer would decode.
pub(crate) fn headers(bytes: &[u8]) -> Result<Vec<crate::BatchHeader>, StorageError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h =
            crate::batch::validate(&bytes[pos..]).map_err(|kind| StorageError::InvalidBatch {
                position: pos,
                kind,
            })?;
        pos += h.size();
        out.push(h);
    }
    Ok(out)
}
