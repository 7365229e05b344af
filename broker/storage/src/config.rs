//! Per-partition log configuration, with Kafka's property names and defaults.

use crate::error::StorageError;

/// What happens to old data (`cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Delete whole segments by time and size retention.
    #[default]
    Delete,
    /// Keep the latest record per key.
    Compact,
    /// Both: compact, and delete by retention.
    CompactDelete,
}

/// Which timestamp a batch carries (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's timestamps are kept.
    #[default]
    CreateTime,
    /// The broker stamps each batch with its append time.
    LogAppendTime,
}

/// Configuration of one partition log. `Default` is Kafka's defaults; build one with struct
/// update syntax (`LogConfig { segment_bytes: 1 << 20, ..LogConfig::default() }`) and call
/// [`LogConfig::validate`]. (`PartialEq` only: `min.cleanable.dirty.ratio` is a float.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch was appended longer ago.
    pub segment_ms: u64,
    /// `segment.index.bytes`: preallocated size of `.index` and `.timeindex`; a full index rolls.
    pub segment_index_bytes: u64,
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger; -1 is unlimited.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes appended between two offset index entries.
    pub index_interval_bytes: u64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: u64,
    /// `flush.messages`: fsync after this many messages; `u64::MAX` leaves it to the OS.
    pub flush_interval_messages: u64,
    /// `flush.ms`: fsync when this long has passed since the last flush; `u64::MAX` never.
    pub flush_interval_ms: u64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `producer.id.expiration.ms`: forget an idempotent producer whose last batch is older,
    /// so the producer state does not grow with every producer id ever seen. Kafka's default
    /// is one day.
    pub producer_id_expiration_ms: i64,
    /// `min.cleanable.dirty.ratio`: compaction starts once the dirty section is at least this
    /// share of the log's cleanable bytes.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: a record stays uncompacted at least this long.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty record older than this makes the log cleanable
    /// whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long a tombstone is kept after the cleaner first saw it.
    pub delete_retention_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            flush_interval_messages: u64::MAX,
            flush_interval_ms: u64::MAX,
            cleanup_policy: CleanupPolicy::Delete,
            timestamp_type: TimestampType::CreateTime,
            producer_id_expiration_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 60 * 60 * 1000,
        }
    }
}

fn invalid(name: &'static str, reason: impl Into<String>) -> StorageError {
    StorageError::InvalidConfig {
        name,
        reason: reason.into(),
    }
}

impl LogConfig {
    /// Checks ranges the way Kafka's `LogConfig` does.
    pub fn validate(&self) -> Result<(), StorageError> {
        // Kafka's minimum segment size: a segment must hold at least a batch header.
        if self.segment_bytes < 14 || self.segment_bytes > i32::MAX as u64 {
            return Err(invalid("segment.bytes", "must be in [14, 2147483647]"));
        }
        if self.segment_ms == 0 {
            return Err(invalid("segment.ms", "must be at least 1"));
        }
        if self.segment_index_bytes < 12 || self.segment_index_bytes > i32::MAX as u64 {
            return Err(invalid(
                "segment.index.bytes",
                "must be in [12, 2147483647]",
            ));
        }
        if self.retention_ms < -1 {
            return Err(invalid("retention.ms", "must be -1 or non-negative"));
        }
        if self.retention_bytes < -1 {
            return Err(invalid("retention.bytes", "must be -1 or non-negative"));
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > i32::MAX as u64 {
            return Err(invalid("max.message.bytes", "must be in [1, 2147483647]"));
        }
        if self.flush_interval_messages == 0 {
            return Err(invalid("flush.messages", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return Err(invalid("min.cleanable.dirty.ratio", "must be in [0, 1]"));
        }
        if self.min_compaction_lag_ms < 0 {
            return Err(invalid("min.compaction.lag.ms", "must be non-negative"));
        }
        if self.max_compaction_lag_ms < 1 {
            return Err(invalid("max.compaction.lag.ms", "must be at least 1"));
        }
        if self.delete_retention_ms < 0 {
            return Err(invalid("delete.retention.ms", "must be non-negative"));
        }
        Ok(())
    }

    /// Sets one field from its Kafka topic property name and string value (topic configs,
    /// `log.`-prefixed broker defaults without the prefix). Returns `Ok(false)` for a name
    /// that is not a log property, so callers can pass every config through.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, StorageError> {
        fn num<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, StorageError> {
            value
                .trim()
                .parse()
                .map_err(|_| invalid(name, format!("not a number: {value:?}")))
        }
        match name {
            "segment.bytes" => self.segment_bytes = num("segment.bytes", value)?,
            "segment.ms" => self.segment_ms = num("segment.ms", value)?,
            "segment.index.bytes" => self.segment_index_bytes = num("segment.index.bytes", value)?,
            "retention.ms" => self.retention_ms = num("retention.ms", value)?,
            "retention.bytes" => self.retention_bytes = num("retention.bytes", value)?,
            "index.interval.bytes" => {
                self.index_interval_bytes = num("index.interval.bytes", value)?
            }
            "max.message.bytes" => self.max_message_bytes = num("max.message.bytes", value)?,
            // Kafka's "never" is Long.MAX_VALUE; anything that large means the same here.
            "flush.messages" => self.flush_interval_messages = num("flush.messages", value)?,
            "flush.ms" => self.flush_interval_ms = num("flush.ms", value)?,
            "producer.id.expiration.ms" => {
                self.producer_id_expiration_ms = num("producer.id.expiration.ms", value)?
            }
            "min.cleanable.dirty.ratio" => {
                self.min_cleanable_dirty_ratio = num("min.cleanable.dirty.ratio", value)?
            }
            "min.compaction.lag.ms" => {
                self.min_compaction_lag_ms = num("min.compaction.lag.ms", value)?
            }
            "max.compaction.lag.ms" => {
                self.max_compaction_lag_ms = num("max.compaction.lag.ms", value)?
            }
            "delete.retention.ms" => self.delete_retention_ms = num("delete.retention.ms", value)?,
            "cleanup.policy" => {
                let mut parts: Vec<&str> = value.split(',').map(str::trim).collect();
                parts.sort_unstable();
                self.cleanup_policy = match parts.as_slice() {
                    ["delete"] => CleanupPolicy::Delete,
                    ["compact"] => CleanupPolicy::Compact,
                    ["compact", "delete"] => CleanupPolicy::CompactDelete,
                    _ => {
                        return Err(invalid(
                            "cleanup.policy",
                            format!("unknown policy {value:?}"),
                        ))
                    }
                }
            }
            "message.timestamp.type" => {
                self.timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(invalid(
                            "message.timestamp.type",
                            format!("unknown type {value:?}"),
                        ))
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether compaction applies.
    pub fn compacts(&self) -> bool {
        matches!(
            self.cleanup_policy,
            CleanupPolicy::Compact | CleanupPolicy::CompactDelete
        )
    }

    /// Whether time and size retention apply.
    pub fn deletes(&self) -> bool {
        matches!(
            self.cleanup_policy,
            CleanupPolicy::Delete | CleanupPolicy::CompactDelete
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.retention_ms, 604_800_000);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn kafka_property_names_set_fields_and_bad_values_are_named() {
        let mut c = LogConfig::default();
        assert!(c.set("retention.ms", "-1").unwrap());
        assert!(c.set("cleanup.policy", "delete,compact").unwrap());
        assert!(c.set("message.timestamp.type", "LogAppendTime").unwrap());
        assert!(!c.set("min.insync.replicas", "2").unwrap());
        assert_eq!(c.retention_ms, -1);
        assert_eq!(c.cleanup_policy, CleanupPolicy::CompactDelete);
        assert_eq!(c.timestamp_type, TimestampType::LogAppendTime);
        assert!(matches!(
            c.set("segment.bytes", "lots"),
            Err(StorageError::InvalidConfig {
                name: "segment.bytes",
                ..
            })
        ));
    }

    #[test]
    fn out_of_range_values_are_rejected_by_name() {
        let c = LogConfig {
            retention_ms: -5,
            ..LogConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(StorageError::InvalidConfig {
                name: "retention.ms",
                ..
            })
        ));
    }
}
