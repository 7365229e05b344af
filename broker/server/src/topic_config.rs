//! Topic-level configuration: which keys a topic may override, their broker-level
//! defaults, and the storage [`LogConfig`] they produce.

use crate::config::BrokerConfig;
use fjord_storage::{CleanupPolicy, LogConfig, TimestampType};
use std::collections::BTreeMap;

/// Kafka's config type ids (DescribeConfigs v3+ `config_type`).
#[derive(Clone, Copy)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// A topic-level key, the broker key its default comes from, and how to check a value.
pub struct TopicKey {
    pub name: &'static str,
    /// The broker property holding the default (None: a fixed default).
    pub broker_key: Option<&'static str>,
    pub fixed_default: &'static str,
    pub kind: ConfigType,
    pub check: fn(&str) -> Result<(), String>,
    pub doc: &'static str,
}

fn long_at_least(v: &str, lo: i64) -> Result<(), String> {
    match v.trim().parse::<i64>() {
        Ok(n) if n >= lo => Ok(()),
        Ok(_) => Err(format!("must be at least {lo}")),
        Err(_) => Err("must be an integer".into()),
    }
}
fn int_in(v: &str, lo: i64, hi: i64) -> Result<(), String> {
    match v.trim().parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(()),
        Ok(_) => Err(format!("must be between {lo} and {hi}")),
        Err(_) => Err("must be an integer".into()),
    }
}
fn ratio(v: &str) -> Result<(), String> {
    match v.trim().parse::<f64>() {
        Ok(n) if (0.0..=1.0).contains(&n) => Ok(()),
        Ok(_) => Err("must be between 0 and 1".into()),
        Err(_) => Err("must be a number".into()),
    }
}
fn cleanup_policy(v: &str) -> Result<(), String> {
    parse_cleanup_policy(v).map(|_| ())
}
fn timestamp_type(v: &str) -> Result<(), String> {
    match v.trim() {
        "CreateTime" | "LogAppendTime" => Ok(()),
        _ => Err("must be CreateTime or LogAppendTime".into()),
    }
}
fn compression_type_value(v: &str) -> Result<(), String> {
    CompressionType::parse(v).map(|_| ())
}
fn boolean(v: &str) -> Result<(), String> {
    match v.trim() {
        "true" | "false" => Ok(()),
        _ => Err("must be true or false".into()),
    }
}
/// A Kafka message format version as `message.format.version` takes it: `0.8.0` to
/// `3.9`, optionally with an `-IV<n>` suffix (`3.0-IV1`).
fn throttled_replicas(v: &str) -> Result<(), String> {
    fjord_replication::ThrottledReplicas::parse(v).map(|_| ())
}

fn message_format_version(v: &str) -> Result<(), String> {
    let v = v.trim();
    let base = match v.split_once("-IV") {
        Some((base, iv)) if !iv.is_empty() && iv.bytes().all(|b| b.is_ascii_digit()) => base,
        Some(_) => return Err("must be a Kafka version such as 2.8 or 3.0-IV1".into()),
        None => v,
    };
    let parts: Vec<&str> = base.split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if numeric && (2..=4).contains(&parts.len()) {
        Ok(())
    } else {
        Err("must be a Kafka version such as 2.8 or 3.0-IV1".into())
    }
}

/// `compression.type` of a topic (or the broker's default): `producer` keeps batches as
/// the producer compressed them; the others name the codec the broker stores them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompressionType {
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    /// Kafka's values, as `compression.type` accepts them.
    pub const VALUES: &'static [&'static str] =
        &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

    pub fn parse(v: &str) -> Result<CompressionType, String> {
        Ok(match v.trim() {
            "producer" => CompressionType::Producer,
            "uncompressed" => CompressionType::Uncompressed,
            "gzip" => CompressionType::Gzip,
            "snappy" => CompressionType::Snappy,
            "lz4" => CompressionType::Lz4,
            "zstd" => CompressionType::Zstd,
            _ => {
                return Err(format!(
                    "must be one of {}",
                    CompressionType::VALUES.join(", ")
                ))
            }
        })
    }
}

/// Topic keys Kafka 3.9 still accepts but that no longer change anything (or that Fjord
/// does not implement): stored and shown by DescribeConfigs, ignored otherwise, with a
/// log line when set. The reason is what the log line says.
pub const DEPRECATED_KEYS: &[(&str, &str)] = &[
    (
        "message.format.version",
        "deprecated since Kafka 3.0; batches are always stored in message format v2",
    ),
    (
        "message.downconversion.enable",
        "down-conversion for old consumers is not offered; the value is ignored",
    ),
    (
        "message.timestamp.difference.max.ms",
        "deprecated since Kafka 3.6 in favour of message.timestamp.before.max.ms and message.timestamp.after.max.ms; the value is ignored",
    ),
];

/// The deprecated keys among `configs`, with why they are ignored.
pub fn deprecated_in(configs: &BTreeMap<String, String>) -> Vec<(&'static str, &'static str)> {
    DEPRECATED_KEYS
        .iter()
        .filter(|(k, _)| configs.contains_key(*k))
        .copied()
        .collect()
}

/// Every key a topic may set.
pub const TOPIC_KEYS: &[TopicKey] = &[
    TopicKey {
        name: "cleanup.policy",
        broker_key: Some("log.cleanup.policy"),
        fixed_default: "delete",
        kind: ConfigType::List,
        check: cleanup_policy,
        doc: "delete, compact, or both.",
    },
    TopicKey {
        name: "compression.type",
        broker_key: Some("compression.type"),
        fixed_default: "producer",
        kind: ConfigType::String,
        check: compression_type_value,
        doc: "Codec batches are stored in: producer (as sent), uncompressed, gzip, snappy, lz4 or zstd.",
    },
    TopicKey {
        name: "delete.retention.ms",
        broker_key: Some("log.cleaner.delete.retention.ms"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, 0),
        doc: "Compacted topics keep a tombstone this long after the cleaner first saw it.",
    },
    TopicKey {
        name: "flush.messages",
        broker_key: Some("log.flush.interval.messages"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, 1),
        doc: "Fsync after this many messages.",
    },
    TopicKey {
        name: "flush.ms",
        broker_key: Some("log.flush.interval.ms"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, 0),
        doc: "Fsync when unflushed data is this old.",
    },
    TopicKey {
        name: "follower.replication.throttled.replicas",
        broker_key: None,
        fixed_default: "",
        kind: ConfigType::List,
        check: throttled_replicas,
        doc: "Replicas throttled on the follower side while out of the ISR (KIP-73): `*` or partition:broker pairs.",
    },
    TopicKey {
        name: "index.interval.bytes",
        broker_key: Some("log.index.interval.bytes"),
        fixed_default: "",
        kind: ConfigType::Int,
        check: |v| int_in(v, 0, i32::MAX as i64),
        doc: "Bytes between offset index entries.",
    },
    TopicKey {
        name: "leader.replication.throttled.replicas",
        broker_key: None,
        fixed_default: "",
        kind: ConfigType::List,
        check: throttled_replicas,
        doc: "Replicas throttled on the leader side while out of the ISR (KIP-73): `*` or partition:broker pairs.",
    },
    TopicKey {
        name: "max.message.bytes",
        broker_key: Some("message.max.bytes"),
        fixed_default: "",
        kind: ConfigType::Int,
        check: |v| int_in(v, 0, i32::MAX as i64),
        doc: "Largest record batch accepted.",
    },
    TopicKey {
        name: "max.compaction.lag.ms",
        broker_key: Some("log.cleaner.max.compaction.lag.ms"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, 1),
        doc: "A record left uncompacted longer makes its log cleanable whatever its dirty ratio.",
    },
    TopicKey {
        name: "message.downconversion.enable",
        broker_key: None,
        fixed_default: "true",
        kind: ConfigType::Boolean,
        check: boolean,
        doc: "Accepted for compatibility; down-conversion is not offered.",
    },
    TopicKey {
        name: "message.format.version",
        broker_key: None,
        fixed_default: "3.0-IV1",
        kind: ConfigType::String,
        check: message_format_version,
        doc: "Deprecated (Kafka 3.0); accepted and ignored: batches are stored in format v2.",
    },
    TopicKey {
        name: "message.timestamp.difference.max.ms",
        broker_key: None,
        fixed_default: "9223372036854775807",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, 0),
        doc: "Deprecated (Kafka 3.6); accepted and ignored.",
    },
    TopicKey {
        name: "message.timestamp.before.max.ms",
        broker_key: Some("log.message.timestamp.before.max.ms"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, 0),
        doc: "CreateTime records older than this (ms) are refused with INVALID_TIMESTAMP (KIP-937).",
    },
    TopicKey {
        name: "message.timestamp.after.max.ms",
        broker_key: Some("log.message.timestamp.after.max.ms"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, 0),
        doc: "CreateTime records newer than now plus this (ms) are refused with INVALID_TIMESTAMP (KIP-937).",
    },
    TopicKey {
        name: "message.timestamp.type",
        broker_key: None,
        fixed_default: "CreateTime",
        kind: ConfigType::String,
        check: timestamp_type,
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's.",
    },
    TopicKey {
        name: "min.cleanable.dirty.ratio",
        broker_key: Some("log.cleaner.min.cleanable.ratio"),
        fixed_default: "",
        kind: ConfigType::Double,
        check: ratio,
        doc: "Compact once the dirty (not yet cleaned) share of the log exceeds this.",
    },
    TopicKey {
        name: "min.compaction.lag.ms",
        broker_key: Some("log.cleaner.min.compaction.lag.ms"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, 0),
        doc: "A record stays uncompacted at least this long.",
    },
    TopicKey {
        name: "min.insync.replicas",
        broker_key: Some("min.insync.replicas"),
        fixed_default: "",
        kind: ConfigType::Int,
        check: |v| int_in(v, 1, i32::MAX as i64),
        doc: "In-sync replicas an acks=all produce needs.",
    },
    TopicKey {
        name: "retention.bytes",
        broker_key: Some("log.retention.bytes"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, -1),
        doc: "Delete old segments above this partition size; -1 for no limit.",
    },
    TopicKey {
        name: "retention.ms",
        broker_key: Some("log.retention.ms"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, -1),
        doc: "Delete segments older than this; -1 keeps them.",
    },
    TopicKey {
        name: "segment.bytes",
        broker_key: Some("log.segment.bytes"),
        fixed_default: "",
        kind: ConfigType::Int,
        check: |v| int_in(v, 14, i32::MAX as i64),
        doc: "Roll a segment at this size.",
    },
    TopicKey {
        name: "segment.index.bytes",
        broker_key: None,
        fixed_default: "10485760",
        kind: ConfigType::Int,
        check: |v| int_in(v, 12, i32::MAX as i64),
        doc: "Preallocated size of a segment's indexes.",
    },
    TopicKey {
        name: "segment.ms",
        broker_key: Some("log.roll.ms"),
        fixed_default: "",
        kind: ConfigType::Long,
        check: |v| long_at_least(v, 1),
        doc: "Roll a segment at this age.",
    },
];

/// Where an effective topic value comes from (DescribeConfigs `config_source`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    DynamicTopic = 1,
    /// This broker's own dynamic config (a BROKER resource named by its id).
    DynamicBroker = 2,
    /// The cluster-wide dynamic default (the BROKER resource named "").
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

pub fn parse_cleanup_policy(v: &str) -> Result<CleanupPolicy, String> {
    let mut delete = false;
    let mut compact = false;
    for p in v.split(',').map(str::trim) {
        match p {
            "delete" => delete = true,
            "compact" => compact = true,
            _ => return Err("must be a list of delete and compact".into()),
        }
    }
    Ok(match (delete, compact) {
        (true, true) => CleanupPolicy::CompactDelete,
        (false, true) => CleanupPolicy::Compact,
        (true, false) => CleanupPolicy::Delete,
        (false, false) => return Err("must not be empty".into()),
    })
}

pub fn key(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS.iter().find(|k| k.name == name)
}

/// Checks topic overrides; the error names the first bad key.
pub fn validate(configs: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in configs {
        let k = key(name).ok_or_else(|| format!("unknown topic config `{name}`"))?;
        (k.check)(value)
            .map_err(|reason| format!("invalid value `{value}` for `{name}`: {reason}"))?;
    }
    Ok(())
}

/// The effective value of every topic key and its source.
pub fn effective(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<(&'static TopicKey, String, Source)> {
    TOPIC_KEYS
        .iter()
        .map(|k| {
            if let Some(v) = overrides.get(k.name) {
                return (k, v.clone(), Source::DynamicTopic);
            }
            match k.broker_key {
                Some(bk) => {
                    let v = broker.effective.get(bk).cloned().unwrap_or_default();
                    (k, v, broker.source_of(bk))
                }
                None => (k, k.fixed_default.to_string(), Source::Default),
            }
        })
        .collect()
}

/// The storage configuration of a partition of a topic with these overrides.
pub fn log_config(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let eff: BTreeMap<&str, String> = effective(broker, overrides)
        .into_iter()
        .map(|(k, v, _)| (k.name, v))
        .collect();
    let d = LogConfig::default();
    let num = |k: &str| eff.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    let unsigned = |k: &str, dflt: u64| num(k).and_then(|n| u64::try_from(n).ok()).unwrap_or(dflt);
    LogConfig {
        segment_bytes: unsigned("segment.bytes", d.segment_bytes),
        segment_ms: unsigned("segment.ms", d.segment_ms),
        segment_index_bytes: unsigned("segment.index.bytes", d.segment_index_bytes),
        retention_ms: num("retention.ms").unwrap_or(d.retention_ms),
        retention_bytes: num("retention.bytes").unwrap_or(d.retention_bytes),
        index_interval_bytes: unsigned("index.interval.bytes", d.index_interval_bytes),
        max_message_bytes: unsigned("max.message.bytes", d.max_message_bytes),
        flush_interval_messages: unsigned("flush.messages", d.flush_interval_messages),
        flush_interval_ms: unsigned("flush.ms", d.flush_interval_ms),
        cleanup_policy: eff
            .get("cleanup.policy")
            .and_then(|v| parse_cleanup_policy(v).ok())
            .unwrap_or(d.cleanup_policy),
        producer_id_expiration_ms: broker.producer_id_expiration_ms,
        min_cleanable_dirty_ratio: eff
            .get("min.cleanable.dirty.ratio")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(d.min_cleanable_dirty_ratio),
        min_compaction_lag_ms: num("min.compaction.lag.ms").unwrap_or(d.min_compaction_lag_ms),
        max_compaction_lag_ms: num("max.compaction.lag.ms").unwrap_or(d.max_compaction_lag_ms),
        delete_retention_ms: num("delete.retention.ms").unwrap_or(d.delete_retention_ms),
        timestamp_type: match eff.get("message.timestamp.type").map(String::as_str) {
            Some("LogAppendTime") => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        },
    }
}

/// `compression.type` of a topic with these overrides (else the broker's default).
pub fn compression_type(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> CompressionType {
    overrides
        .get("compression.type")
        .or_else(|| broker.effective.get("compression.type"))
        .and_then(|v| CompressionType::parse(v).ok())
        .unwrap_or(CompressionType::Producer)
}

/// `min.insync.replicas` of a topic with these overrides.
/// `message.timestamp.before.max.ms` and `message.timestamp.after.max.ms` of a topic with
/// these overrides (else the broker's `log.message.timestamp.*.max.ms`).
pub fn timestamp_bounds(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> (i64, i64) {
    let get = |key: &str, default: i64| {
        overrides
            .get(key)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    };
    (
        get(
            "message.timestamp.before.max.ms",
            broker.message_timestamp_before_max_ms,
        ),
        get(
            "message.timestamp.after.max.ms",
            broker.message_timestamp_after_max_ms,
        ),
    )
}

pub fn min_insync_replicas(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> i32 {
    overrides
        .get("min.insync.replicas")
        .and_then(|v| v.parse().ok())
        .unwrap_or(broker.min_insync_replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_over_broker_defaults() {
        let broker = BrokerConfig::default();
        let overrides: BTreeMap<String, String> =
            [("retention.ms".to_string(), "1000".to_string())].into();
        let lc = log_config(&broker, &overrides);
        assert_eq!(lc.retention_ms, 1000);
        assert_eq!(lc.segment_bytes, broker.segment_bytes);
        let eff = effective(&broker, &overrides);
        let r = eff
            .iter()
            .find(|(k, _, _)| k.name == "retention.ms")
            .unwrap();
        assert_eq!(r.2, Source::DynamicTopic);
    }

    #[test]
    fn compaction_settings_come_from_log_cleaner_keys_and_topic_overrides() {
        let set = |key: &str, value: &str| crate::config::RawSetting {
            key: key.into(),
            value: value.into(),
            source_name: "test".into(),
        };
        let broker = BrokerConfig::from_pairs(vec![
            set("log.cleaner.delete.retention.ms", "5000"),
            set("log.cleaner.min.cleanable.ratio", "0.25"),
            set("log.cleaner.threads", "2"),
            set("log.cleaner.dedupe.buffer.size", "1048576"),
            set("log.cleaner.io.max.bytes.per.second", "1e6"),
        ])
        .unwrap();
        assert_eq!(broker.cleaner.threads, 2);
        assert_eq!(broker.cleaner.dedupe_buffer_size, 1 << 20);
        assert_eq!(broker.cleaner.io_max_bytes_per_second, 1e6);
        let defaults = log_config(&broker, &BTreeMap::new());
        assert_eq!(defaults.delete_retention_ms, 5000);
        assert_eq!(defaults.min_cleanable_dirty_ratio, 0.25);
        assert_eq!(defaults.max_compaction_lag_ms, i64::MAX);
        let overrides: BTreeMap<String, String> = [
            ("delete.retention.ms", "7"),
            ("min.cleanable.dirty.ratio", "0.9"),
            ("min.compaction.lag.ms", "100"),
            ("max.compaction.lag.ms", "200"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(validate(&overrides), Ok(()));
        let lc = log_config(&broker, &overrides);
        assert_eq!(
            (
                lc.delete_retention_ms,
                lc.min_compaction_lag_ms,
                lc.max_compaction_lag_ms
            ),
            (7, 100, 200)
        );
        assert_eq!(lc.min_cleanable_dirty_ratio, 0.9);
        let bad: BTreeMap<String, String> =
            [("min.cleanable.dirty.ratio".to_string(), "1.5".to_string())].into();
        assert!(validate(&bad)
            .unwrap_err()
            .contains("min.cleanable.dirty.ratio"));
        let defaults = BrokerConfig::default();
        assert_eq!(defaults.cleaner, fjord_storage::CleanerConfig::default());
    }

    #[test]
    fn every_kafka_compression_type_is_accepted_and_read_back() {
        let broker = BrokerConfig::default();
        for (v, want) in [
            ("producer", CompressionType::Producer),
            ("uncompressed", CompressionType::Uncompressed),
            ("gzip", CompressionType::Gzip),
            ("snappy", CompressionType::Snappy),
            ("lz4", CompressionType::Lz4),
            ("zstd", CompressionType::Zstd),
        ] {
            let c: BTreeMap<String, String> =
                [("compression.type".to_string(), v.to_string())].into();
            assert_eq!(validate(&c), Ok(()), "{v}");
            assert_eq!(compression_type(&broker, &c), want);
        }
        assert_eq!(
            compression_type(&broker, &BTreeMap::new()),
            CompressionType::Producer
        );
        let bad: BTreeMap<String, String> =
            [("compression.type".to_string(), "brotli".to_string())].into();
        assert!(validate(&bad).unwrap_err().contains("compression.type"));
    }

    #[test]
    fn deprecated_kafka_topic_configs_are_accepted() {
        let c: BTreeMap<String, String> = [
            ("message.format.version", "2.8"),
            ("message.downconversion.enable", "false"),
            ("message.timestamp.difference.max.ms", "60000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(validate(&c), Ok(()));
        assert_eq!(deprecated_in(&c).len(), 3);
        for v in ["3.0-IV1", "0.10.2", "3.9"] {
            assert_eq!(message_format_version(v), Ok(()), "{v}");
        }
        for v in ["", "three", "3", "3.0-IV", "3.0-IVx"] {
            assert!(message_format_version(v).is_err(), "{v}");
        }
    }

    #[test]
    fn unknown_and_bad_topic_configs_are_refused_by_name() {
        let bad: BTreeMap<String, String> = [("retention.mss".to_string(), "1".to_string())].into();
        assert!(validate(&bad).unwrap_err().contains("retention.mss"));
        let bad: BTreeMap<String, String> =
            [("cleanup.policy".to_string(), "shred".to_string())].into();
        assert!(validate(&bad).unwrap_err().contains("cleanup.policy"));
    }
}
