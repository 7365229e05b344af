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
/// [`LogConfig::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        Ok(())
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
