//! The Kafka broker properties that `fjord-broker` understands, and which of them the operator
//! sets itself.
//!
//! Keep this list in step with the broker's config module: a Cluster whose `spec.config` names a
//! key the broker does not know is refused with a condition instead of crash-looping its pods.

use std::collections::BTreeMap;

/// Every property `fjord-broker` accepts (file, `FJORD_*` environment or `--set`).
pub const KNOWN: &[&str] = &[
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "node.id",
    "num.partitions",
    "default.replication.factor",
    "min.insync.replicas",
    "auto.create.topics.enable",
    "log.segment.bytes",
    "log.roll.ms",
    "log.retention.ms",
    "log.retention.bytes",
    "log.cleanup.policy",
    "log.retention.check.interval.ms",
    "log.index.interval.bytes",
    "message.max.bytes",
    "compression.type",
    "socket.request.max.bytes",
    "queued.max.request.bytes",
    "fetch.max.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "metrics.port",
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "connections.max.idle.ms",
    "producer.id.expiration.ms",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms",
    "broker.rack",
    "controller.quorum.voters",
    "process.roles",
    "controller.quorum.bootstrap.servers",
    "controller.listener.names",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "controller.quorum.election.timeout.ms",
    "controller.quorum.fetch.timeout.ms",
    "broker.session.timeout.ms",
    "broker.heartbeat.interval.ms",
    "replica.lag.time.max.ms",
    "replica.selector.class",
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "unclean.leader.election.enable",
    "auto.leader.rebalance.enable",
    "leader.imbalance.check.interval.seconds",
    "leader.imbalance.per.broker.percentage",
    "metadata.log.max.record.bytes.between.snapshots",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.max.size",
    "group.consumer.session.timeout.ms",
    "group.consumer.heartbeat.interval.ms",
    "group.consumer.min.session.timeout.ms",
    "group.consumer.max.session.timeout.ms",
    "group.consumer.min.heartbeat.interval.ms",
    "group.consumer.max.heartbeat.interval.ms",
    "group.consumer.migration.policy",
    "group.consumer.max.size",
    "group.consumer.assignors",
    "offsets.topic.num.partitions",
    "offsets.topic.replication.factor",
    "offsets.commit.timeout.ms",
    "offsets.retention.minutes",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.delete.retention.ms",
    "metrics.host",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.principal.mapping.rules",
    "sasl.enabled.mechanisms",
    "sasl.jaas.config",
    "connections.max.reauth.ms",
    "connection.failed.authentication.delay.ms",
    "authorizer.class.name",
    "super.users",
    "allow.everyone.if.no.acl.found",
];

/// Properties the operator derives from the Cluster spec and the pod identity. A user value would
/// break networking, storage or node identity, so it is refused.
pub const OPERATOR_OWNED: &[&str] = &[
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "node.id",
    "metrics.port",
    "broker.rack",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "process.roles",
    "controller.listener.names",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
];

/// Keys of `config` that the broker does not know, in key order.
pub fn unknown_keys(config: &BTreeMap<String, String>) -> Vec<&str> {
    config
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN.contains(k))
        .collect()
}

/// Keys of `config` that only the operator may set, in key order.
pub fn operator_owned_keys(config: &BTreeMap<String, String>) -> Vec<&str> {
    config
        .keys()
        .map(String::as_str)
        .filter(|k| OPERATOR_OWNED.contains(k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(keys: &[&str]) -> BTreeMap<String, String> {
        keys.iter().map(|k| (k.to_string(), "1".into())).collect()
    }

    #[test]
    fn known_keys_are_accepted() {
        assert!(unknown_keys(&config(&["num.partitions", "log.retention.ms"])).is_empty());
    }

    #[test]
    fn misspelt_keys_are_reported_in_order() {
        let c = config(&[
            "num.partition",
            "log.retention.ms",
            "auto.create.topic.enable",
        ]);
        assert_eq!(
            unknown_keys(&c),
            ["auto.create.topic.enable", "num.partition"]
        );
    }

    #[test]
    fn operator_owned_keys_are_known_but_reserved() {
        let c = config(&["node.id", "log.dirs", "num.partitions"]);
        assert!(unknown_keys(&c).is_empty());
        assert_eq!(operator_owned_keys(&c), ["log.dirs", "node.id"]);
    }

    #[test]
    fn every_operator_owned_key_is_a_known_key() {
        for k in OPERATOR_OWNED {
            assert!(KNOWN.contains(k), "{k}");
        }
    }
}
