//! Dynamic broker configs (Kafka's `DynamicBrokerConfig`): the keys that may change while
//! the broker runs, set through AlterConfigs / IncrementalAlterConfigs on a BROKER
//! resource, kept in the metadata log and applied by every broker without a restart.
//!
//! Two levels, as in Kafka: the cluster-wide default (resource name `""`) and one broker's
//! own (resource name = its node id). On a broker the precedence is its own dynamic value,
//! then the cluster-wide dynamic default, then the static value (file, `FJORD_*`,
//! `--set`), then the built-in default.

use super::{BrokerConfig, ConfigError, RawSetting, KEYS};
use std::collections::BTreeMap;

/// Keys Kafka lets change at run time that Fjord also applies live:
/// - the broker defaults of topic configs (`DynamicLogConfig`): every partition's log
///   config is recomputed when they change, so topics without an override follow at once;
/// - the cleaner's settings (`LogCleaner.ReconfigurableConfigs`): the cleaner threads are
///   restarted with the new settings, as Kafka's `LogCleaner.reconfigure` does;
/// - the connection quotas (`DynamicConnectionQuota`);
/// - the replication throttles (`DynamicReplicationConfig`), read by every fetch.
///
/// Kafka's `num.*.threads` are not here: Fjord has no such pools (tokio's workers are
/// fixed at start). Nor is `max.connections` yet: it is the listener's semaphore, sized at
/// start, whose full size the shutdown drain waits for. Everything else is read-only.
pub const DYNAMIC_KEYS: &[&str] = &[
    "log.segment.bytes",
    "log.roll.ms",
    "log.retention.ms",
    "log.retention.bytes",
    "log.index.interval.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.cleanup.policy",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms",
    "compression.type",
    "message.max.bytes",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "producer.id.expiration.ms",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];

/// Whether `key` may be changed at run time.
pub fn is_dynamic(key: &str) -> bool {
    DYNAMIC_KEYS.contains(&key)
}

/// Why a dynamic change is refused. Kafka answers INVALID_CONFIG for a key it does not
/// know and INVALID_REQUEST for a read-only key or a bad value (the latter is Kafka's
/// KAFKA-13609 quirk, kept for compatibility).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Unknown(String),
    ReadOnly(String),
    BadValue(String),
}

/// Checks a whole set of dynamic configs for one resource; the error names the key.
pub fn check(configs: &BTreeMap<String, String>) -> Result<(), Refused> {
    for (name, value) in configs {
        let Some(k) = KEYS.iter().find(|k| k.name == name) else {
            return Err(Refused::Unknown(format!("unknown broker config `{name}`")));
        };
        if !is_dynamic(name) {
            return Err(Refused::ReadOnly(format!(
                "cannot update these configs dynamically: {name} (it is read-only: set it in the properties file, FJORD_* variables or --set, and restart)"
            )));
        }
        (k.check)(value).map_err(|reason| {
            Refused::BadValue(format!("invalid value `{value}` for `{name}`: {reason}"))
        })?;
    }
    Ok(())
}

/// Known dynamic keys of `configs`, under their static names (others are skipped: the
/// controller refuses them, so only a newer version's record could carry one).
fn known(configs: &BTreeMap<String, String>) -> BTreeMap<&'static str, String> {
    configs
        .iter()
        .filter_map(|(k, v)| {
            let key = KEYS.iter().find(|c| c.name == k && is_dynamic(c.name))?;
            Some((key.name, v.clone()))
        })
        .collect()
}

impl BrokerConfig {
    /// This (static) configuration with the cluster-wide dynamic `default` and this
    /// broker's own dynamic `per_broker` configs on top. `explicit` keeps the static
    /// settings only, so DescribeConfigs can tell the sources apart.
    pub fn with_dynamic(
        &self,
        default: &BTreeMap<String, String>,
        per_broker: &BTreeMap<String, String>,
    ) -> Result<BrokerConfig, ConfigError> {
        let dynamic_default = known(default);
        let dynamic_broker = known(per_broker);
        let layer = |m: &BTreeMap<&'static str, String>, source: &str| {
            m.iter()
                .map(|(k, v)| RawSetting {
                    key: k.to_string(),
                    value: v.clone(),
                    source_name: source.to_string(),
                })
                .collect::<Vec<_>>()
        };
        let mut settings = layer(&self.explicit, "the static configuration");
        settings.extend(layer(&dynamic_default, "the cluster-wide dynamic config"));
        settings.extend(layer(&dynamic_broker, "this broker's dynamic config"));
        let mut cfg = BrokerConfig::from_pairs(settings)?;
        cfg.explicit = self.explicit.clone();
        cfg.dynamic_default = dynamic_default;
        cfg.dynamic_broker = dynamic_broker;
        Ok(cfg)
    }

    /// Where the effective value of broker key `key` comes from.
    pub fn source_of(&self, key: &str) -> crate::topic_config::Source {
        use crate::topic_config::Source;
        if self.dynamic_broker.contains_key(key) {
            Source::DynamicBroker
        } else if self.dynamic_default.contains_key(key) {
            Source::DynamicDefaultBroker
        } else if self.explicit.contains_key(key) {
            Source::StaticBroker
        } else {
            Source::Default
        }
    }

    /// Every level that sets broker key `key`, highest precedence first (DescribeConfigs
    /// synonyms): this broker's dynamic value, the dynamic default, the static value, and
    /// the built-in default.
    pub fn levels_of(&self, key: &str) -> Vec<(String, crate::topic_config::Source)> {
        use crate::topic_config::Source;
        let mut out = Vec::new();
        if let Some(v) = self.dynamic_broker.get(key) {
            out.push((v.clone(), Source::DynamicBroker));
        }
        if let Some(v) = self.dynamic_default.get(key) {
            out.push((v.clone(), Source::DynamicDefaultBroker));
        }
        if let Some(v) = self.explicit.get(key) {
            out.push((v.clone(), Source::StaticBroker));
        }
        if let Some(k) = KEYS.iter().find(|k| k.name == key) {
            out.push((k.default.to_string(), Source::Default));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_config::Source;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_dynamic_key_is_a_broker_key() {
        for k in DYNAMIC_KEYS {
            assert!(KEYS.iter().any(|c| c.name == *k), "{k}");
        }
    }

    #[test]
    fn per_broker_beats_default_beats_static() {
        let stat = BrokerConfig::from_pairs(vec![RawSetting {
            key: "log.retention.ms".into(),
            value: "100".into(),
            source_name: "test".into(),
        }])
        .unwrap();
        let cfg = stat
            .with_dynamic(&map(&[("log.retention.ms", "200")]), &BTreeMap::new())
            .unwrap();
        assert_eq!(cfg.retention_ms, 200);
        assert_eq!(
            cfg.source_of("log.retention.ms"),
            Source::DynamicDefaultBroker
        );
        let cfg = stat
            .with_dynamic(
                &map(&[("log.retention.ms", "200")]),
                &map(&[("log.retention.ms", "300")]),
            )
            .unwrap();
        assert_eq!(cfg.retention_ms, 300);
        assert_eq!(cfg.source_of("log.retention.ms"), Source::DynamicBroker);
        assert_eq!(cfg.effective["log.retention.ms"], "300");
        let levels: Vec<Source> = cfg
            .levels_of("log.retention.ms")
            .into_iter()
            .map(|l| l.1)
            .collect();
        assert_eq!(
            levels,
            [
                Source::DynamicBroker,
                Source::DynamicDefaultBroker,
                Source::StaticBroker,
                Source::Default
            ]
        );
        assert_eq!(cfg.source_of("log.segment.bytes"), Source::Default);
        let back = stat
            .with_dynamic(&BTreeMap::new(), &BTreeMap::new())
            .unwrap();
        assert_eq!(back.retention_ms, 100);
        assert_eq!(back.source_of("log.retention.ms"), Source::StaticBroker);
    }

    #[test]
    fn static_unknown_and_bad_values_are_refused_naming_the_key() {
        assert!(check(&map(&[
            ("log.retention.ms", "5"),
            ("log.cleaner.threads", "2")
        ]))
        .is_ok());
        match check(&map(&[("log.dirs", "/x")])) {
            Err(Refused::ReadOnly(m)) => assert!(m.contains("log.dirs"), "{m}"),
            other => panic!("{other:?}"),
        }
        match check(&map(&[("no.such.key", "1")])) {
            Err(Refused::Unknown(m)) => assert!(m.contains("no.such.key"), "{m}"),
            other => panic!("{other:?}"),
        }
        match check(&map(&[("log.retention.ms", "soon")])) {
            Err(Refused::BadValue(m)) => assert!(m.contains("log.retention.ms"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
