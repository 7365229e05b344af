//! What Kafka's `LogValidator` checks before a producer's batch is written, done the Fjord way:
//! one streaming pass over the records, and the bytes kept as sent unless something must change.
//!
//! For each batch of a produce payload: the header checks of [`batch::validate`] and
//! [`batch::check_produced`]; then every record is decoded (bounded by
//! [`decompressed_limit`]): lengths, varints, offset deltas `0..n-1`, headers, and the count
//! matching the header. Record-level rules (Kafka's KIP-467 `record_errors`): a compacted topic
//! needs a key; under `CreateTime` a timestamp other than -1 must be non-negative and within
//! `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` of the broker clock.
//! The batch's `maxTimestamp` is recomputed from the records (-1 when no record has a
//! timestamp) and the header corrected, CRC included, when the producer wrote something else.
//! With a topic `compression.type` other than `producer` (and other than the batch's codec),
//! the records are recompressed in the same pass; offsets, producer id, epoch and sequence,
//! timestamps and record bytes are kept. `LogAppendTime` stamping stays in `Log::append`.

pub(crate) mod codec;
pub(crate) mod reader;

use std::borrow::Cow;

use crate::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use crate::config::{LogConfig, TimestampType};
use crate::error::BatchError;

pub use codec::decompressed_limit;
pub use reader::{RecordReader, RecordView};

/// Kafka's `NO_TIMESTAMP`: a record without a timestamp.
const NO_TIMESTAMP: i64 = -1;

/// The rules one append is checked against. Plain data (`Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationConfig {
    /// `max.message.bytes`: largest batch, before and after recompression.
    pub max_message_bytes: u64,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far in the past a `CreateTime` may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a `CreateTime` may be.
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
    /// The codec batches are stored in (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd); `None` for
    /// `compression.type=producer`, which keeps the producer's bytes.
    pub target_compression: Option<i16>,
}

/// Kafka 4.0's default for `log.message.timestamp.before.max.ms`: no limit.
pub const DEFAULT_TIMESTAMP_BEFORE_MAX_MS: i64 = i64::MAX;
/// Kafka 4.0's default for `log.message.timestamp.after.max.ms` (KIP-1030): one hour.
pub const DEFAULT_TIMESTAMP_AFTER_MAX_MS: i64 = 3_600_000;

impl ValidationConfig {
    /// The rules of a log with this configuration, Kafka's default timestamp bounds, and the
    /// producer's compression kept.
    pub fn for_log(config: &LogConfig) -> Self {
        ValidationConfig {
            max_message_bytes: config.max_message_bytes,
            timestamp_type: config.timestamp_type,
            timestamp_before_max_ms: DEFAULT_TIMESTAMP_BEFORE_MAX_MS,
            timestamp_after_max_ms: DEFAULT_TIMESTAMP_AFTER_MAX_MS,
            compacted: config.compacts(),
            target_compression: None,
        }
    }
}

/// A record refused by a record-level rule (ProduceResponse v8+ `record_errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

/// Why a produce payload is refused; nothing of it is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Rejection {
    /// Decides the partition's error code ([`BatchError::kafka_error_code`]).
    pub error: BatchError,
    /// The records refused by record-level rules, if that is why.
    pub record_errors: Vec<RecordError>,
}

impl From<BatchError> for Rejection {
    fn from(error: BatchError) -> Self {
        Rejection {
            error,
            record_errors: Vec::new(),
        }
    }
}

/// Validates a produce payload (v2 batches back to back). Returns the bytes to append: the
/// payload itself when nothing had to change, else a corrected or recompressed copy.
pub fn validate_produced<'a>(
    records: &'a [u8],
    config: &ValidationConfig,
    now_ms: i64,
) -> Result<Cow<'a, [u8]>, Rejection> {
    if records.is_empty() {
        return Err(BatchError::NoRecords.into());
    }
    let mut parts: Vec<Cow<'a, [u8]>> = Vec::with_capacity(1);
    let mut position = 0;
    while position < records.len() {
        let header = batch::validate(&records[position..])?;
        let bytes = &records[position..position + header.size()];
        parts.push(validate_batch(&header, bytes, config, now_ms)?);
        position += header.size();
    }
    if parts.iter().all(|p| matches!(p, Cow::Borrowed(_))) {
        return Ok(Cow::Borrowed(records));
    }
    Ok(Cow::Owned(parts.concat()))
}

fn validate_batch<'a>(
    header: &BatchHeader,
    bytes: &'a [u8],
    config: &ValidationConfig,
    now_ms: i64,
) -> Result<Cow<'a, [u8]>, Rejection> {
    batch::check_produced(header, config.max_message_bytes)?;
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return Err(BatchError::InvalidSequence(header.base_sequence).into());
    }
    if header.is_log_append_time() {
        // Only the broker stamps LogAppendTime.
        return Err(BatchError::InvalidTimestamp {
            index: 0,
            reason: "producers must not set the LogAppendTime attribute".into(),
        }
        .into());
    }
    let recompress = config
        .target_compression
        .filter(|t| *t != header.compression());
    let mut encoder = recompress.map(codec::Encoder::new).transpose()?;
    let mut reader =
        RecordReader::new(header, bytes, decompressed_limit(config.max_message_bytes))?;
    let mut max_timestamp = NO_TIMESTAMP;
    let mut record_errors = Vec::new();
    let mut timestamp_error = None;
    let mut key_error = None;
    while let Some(r) = reader.next_record()? {
        if usize::try_from(r.offset_delta).ok() != Some(r.index) {
            return Err(BatchError::InvalidRecord {
                index: r.index,
                reason: format!(
                    "offset delta {} where {} was expected",
                    r.offset_delta, r.index
                ),
            }
            .into());
        }
        let timestamp = header.base_timestamp.checked_add(r.timestamp_delta);
        if config.compacted && r.key.is_none() {
            let e = BatchError::NoKey { index: r.index };
            record_errors.push(record_error(r.index, &e));
            key_error.get_or_insert(e);
        } else if let Some(reason) = timestamp_problem(timestamp, config, now_ms) {
            let e = BatchError::InvalidTimestamp {
                index: r.index,
                reason,
            };
            record_errors.push(record_error(r.index, &e));
            timestamp_error.get_or_insert(e);
        } else if let Some(ts) = timestamp {
            max_timestamp = max_timestamp.max(ts);
        }
        if let Some(e) = encoder.as_mut() {
            e.write(r.bytes)?;
        }
    }
    // As in Kafka, a timestamp error decides the code when both kinds occur.
    if let Some(error) = timestamp_error.or(key_error) {
        return Err(Rejection {
            error,
            record_errors,
        });
    }
    let fix_max =
        config.timestamp_type == TimestampType::CreateTime && header.max_timestamp != max_timestamp;
    match (encoder, recompress) {
        (Some(encoder), Some(codec)) => {
            let section = encoder.finish()?;
            let rebuilt = rebuild(bytes, header, codec, &section, max_timestamp, fix_max);
            if rebuilt.len() as u64 > config.max_message_bytes {
                return Err(BatchError::TooLarge {
                    size: rebuilt.len(),
                    max: config.max_message_bytes,
                }
                .into());
            }
            Ok(Cow::Owned(rebuilt))
        }
        _ if fix_max => {
            let mut copy = bytes.to_vec();
            batch::set_max_timestamp(&mut copy, max_timestamp);
            Ok(Cow::Owned(copy))
        }
        _ => Ok(Cow::Borrowed(bytes)),
    }
}

fn record_error(index: usize, e: &BatchError) -> RecordError {
    RecordError {
        batch_index: i32::try_from(index).unwrap_or(i32::MAX),
        message: e.to_string(),
    }
}

/// Why a record's `CreateTime` is refused, if it is (Kafka's `validateTimestamp`, plus
/// refusing negative times other than -1, which no Kafka client can produce).
fn timestamp_problem(ts: Option<i64>, config: &ValidationConfig, now_ms: i64) -> Option<String> {
    let Some(ts) = ts else {
        return Some("timestamp overflows".into());
    };
    if config.timestamp_type != TimestampType::CreateTime || ts == NO_TIMESTAMP {
        return None;
    }
    if ts < 0 {
        return Some(format!("timestamp {ts} is negative"));
    }
    let earliest = now_ms.saturating_sub(config.timestamp_before_max_ms);
    let latest = now_ms.saturating_add(config.timestamp_after_max_ms);
    if ts < earliest || ts > latest {
        return Some(format!(
            "timestamp {ts} is out of range: it should be within [{earliest}, {latest}]"
        ));
    }
    None
}

/// A new batch: `original`'s header with codec, length, max timestamp and CRC replaced, then
/// `section`.
fn rebuild(
    original: &[u8],
    header: &BatchHeader,
    codec: i16,
    section: &[u8],
    max_timestamp: i64,
    fix_max: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + section.len());
    out.extend_from_slice(&original[..HEADER_LEN]);
    out.extend_from_slice(section);
    let batch_length = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let attributes = (header.attributes & !batch::COMPRESSION_MASK) | codec;
    batch::set_attributes(&mut out, attributes);
    if fix_max {
        batch::set_max_timestamp(&mut out, max_timestamp);
    } else {
        batch::recompute_crc(&mut out);
    }
    out
}

#[cfg(test)]
mod tests;
