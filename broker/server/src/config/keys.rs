//! The broker's configuration keys: Kafka's names, defaults, and a check per key.

/// One configuration key the broker understands.
pub struct ConfigKey {
    /// Kafka's property name.
    pub name: &'static str,
    /// The default, as Kafka would print it.
    pub default: &'static str,
    /// Validates a value; the error says what is expected.
    pub check: fn(&str) -> Result<(), String>,
    /// One line for DescribeConfigs documentation and `--help`.
    pub doc: &'static str,
    /// Whether the value is a secret (passwords, keys): never shown by DescribeConfigs.
    pub sensitive: bool,
}

fn int_in(v: &str, lo: i64, hi: i64) -> Result<(), String> {
    match v.trim().parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(()),
        Ok(_) => Err(format!("must be between {lo} and {hi}")),
        Err(_) => Err("must be an integer".into()),
    }
}

fn positive(v: &str) -> Result<(), String> {
    int_in(v, 1, i64::MAX)
}
fn non_negative(v: &str) -> Result<(), String> {
    int_in(v, 0, i64::MAX)
}
fn retention(v: &str) -> Result<(), String> {
    int_in(v, -1, i64::MAX)
}
fn int32_positive(v: &str) -> Result<(), String> {
    int_in(v, 1, i32::MAX as i64)
}
fn percentage(v: &str) -> Result<(), String> {
    int_in(v, 0, 100)
}
fn port(v: &str) -> Result<(), String> {
    int_in(v, 0, 65535)
}
fn boolean(v: &str) -> Result<(), String> {
    match v.trim() {
        "true" | "false" => Ok(()),
        _ => Err("must be true or false".into()),
    }
}
fn migration_policy(v: &str) -> Result<(), String> {
    match fjord_group::MigrationPolicy::parse(v) {
        Some(_) => Ok(()),
        None => Err("must be one of bidirectional, upgrade, downgrade, disabled".into()),
    }
}
fn assignors(v: &str) -> Result<(), String> {
    let names: Vec<&str> = v.split(',').map(str::trim).collect();
    if names
        .iter()
        .all(|n| fjord_group::Assignor::parse(n).is_some())
        && !v.trim().is_empty()
    {
        Ok(())
    } else {
        Err(
            "must list uniform and/or range (or Kafka's UniformAssignor/RangeAssignor class names)"
                .into(),
        )
    }
}
/// The replica selectors of KIP-392 that Fjord implements.
pub const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";
pub const LEADER_SELECTOR: &str = "org.apache.kafka.common.replica.LeaderSelector";

fn replica_selector(v: &str) -> Result<(), String> {
    match v.trim() {
        "" | RACK_AWARE_SELECTOR | LEADER_SELECTOR => Ok(()),
        _ => Err(format!(
            "Fjord implements {RACK_AWARE_SELECTOR} and {LEADER_SELECTOR}, not custom selectors"
        )),
    }
}

fn any(_: &str) -> Result<(), String> {
    Ok(())
}
fn not_empty(v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        Err("must not be empty".into())
    } else if v.contains(',') {
        Err("only one directory is supported".into())
    } else {
        Ok(())
    }
}
fn listener(v: &str) -> Result<(), String> {
    if v.trim().is_empty() || v.contains("://") {
        Ok(())
    } else {
        Err("expected PLAINTEXT://host:port".into())
    }
}
fn segment_bytes(v: &str) -> Result<(), String> {
    int_in(v, 14, i32::MAX as i64)
}
fn request_max(v: &str) -> Result<(), String> {
    int_in(v, 1024, i32::MAX as i64)
}
fn queued_bytes(v: &str) -> Result<(), String> {
    match v.trim() {
        "-1" => Ok(()),
        _ => int_in(v, 1, i64::MAX).map_err(|_| "must be -1 (unbounded) or positive".into()),
    }
}
fn double_in(v: &str, lo: f64, hi: f64) -> Result<(), String> {
    match v.trim().parse::<f64>() {
        Ok(n) if n >= lo && n <= hi => Ok(()),
        Ok(_) => Err(format!("must be between {lo} and {hi}")),
        Err(_) => Err("must be a number".into()),
    }
}
fn ip_overrides(v: &str) -> Result<(), String> {
    crate::connection_quotas::parse_overrides(v).map(|_| ())
}

/// Every key the broker accepts. Unknown keys are refused at start-up.
pub const KEYS: &[ConfigKey] = &[
    key(
        "listeners",
        "PLAINTEXT://127.0.0.1:9092",
        listener,
        "Named listeners NAME://host:port,...: one broker listener plus the controller's.",
    ),
    key(
        "advertised.listeners",
        "",
        listener,
        "The address given to clients in Metadata; defaults to the bound listener.",
    ),
    key(
        "log.dirs",
        "fjord-data",
        not_empty,
        "The directory holding partition logs and cluster metadata.",
    ),
    key("node.id", "0", non_negative, "This broker's node id."),
    key(
        "broker.rack",
        "",
        any,
        "Rack of this broker, reported in Metadata.",
    ),
    key(
        "num.partitions",
        "1",
        int32_positive,
        "Partitions of an auto-created topic.",
    ),
    key(
        "default.replication.factor",
        "1",
        |v| int_in(v, 1, i16::MAX as i64),
        "Replication factor of an auto-created topic.",
    ),
    key(
        "min.insync.replicas",
        "1",
        int32_positive,
        "In-sync replicas an acks=all produce needs.",
    ),
    key(
        "auto.create.topics.enable",
        "true",
        boolean,
        "Whether Metadata creates unknown topics.",
    ),
    key(
        "log.segment.bytes",
        "1073741824",
        segment_bytes,
        "Roll a segment at this size.",
    ),
    key(
        "log.roll.ms",
        "604800000",
        positive,
        "Roll a segment at this age.",
    ),
    key(
        "log.retention.ms",
        "604800000",
        retention,
        "Delete segments older than this; -1 keeps them.",
    ),
    key(
        "log.retention.bytes",
        "-1",
        retention,
        "Delete the oldest segments above this partition size; -1 for none.",
    ),
    key(
        "log.cleanup.policy",
        "delete",
        |v| crate::topic_config::parse_cleanup_policy(v).map(|_| ()),
        "Default cleanup.policy of topics: delete, compact, or both.",
    ),
    key(
        "log.retention.check.interval.ms",
        "300000",
        positive,
        "How often retention runs.",
    ),
    key(
        "log.index.interval.bytes",
        "4096",
        non_negative,
        "Bytes between offset index entries.",
    ),
    key(
        "message.max.bytes",
        "1048588",
        |v| int_in(v, 0, i32::MAX as i64),
        "Largest record batch accepted (topic default).",
    ),
    key(
        "compression.type",
        "producer",
        |v| crate::topic_config::CompressionType::parse(v).map(|_| ()),
        "Default compression.type of topics: producer, uncompressed, gzip, snappy, lz4 or zstd.",
    ),
    key(
        "socket.request.max.bytes",
        "104857600",
        request_max,
        "Largest request frame; a larger one closes the connection.",
    ),
    key(
        "queued.max.request.bytes",
        // Kafka's default is -1 (unbounded). Bounded here so that stalled or slow clients
        // cannot make the broker hold more request memory than this: 256 MiB admits two
        // requests of the largest size (socket.request.max.bytes, 100 MiB) at once while small
        // ones keep flowing, and is an eighth of a 2 GiB broker.
        "268435456",
        queued_bytes,
        "Request bytes read and not yet answered, over all connections; a connection whose next frame does not fit stops reading until some is released. -1: unbounded.",
    ),
    key(
        "fetch.max.bytes",
        "57671680",
        |v| int_in(v, 1024, i32::MAX as i64),
        "Largest Fetch response the broker builds (the first batch is returned whole even if larger).",
    ),
    key(
        "log.flush.interval.messages",
        "9223372036854775807",
        positive,
        "Fsync a partition after this many messages.",
    ),
    key(
        "log.flush.interval.ms",
        "9223372036854775807",
        non_negative,
        "Fsync a partition when unflushed data is this old.",
    ),
    key(
        "producer.id.expiration.ms",
        "86400000",
        positive,
        "Forget an idempotent producer's sequence state when its last batch is older than this.",
    ),
    key(
        "log.message.timestamp.before.max.ms",
        "9223372036854775807",
        non_negative,
        "CreateTime timestamps further in the past than this are refused (INVALID_TIMESTAMP).",
    ),
    key(
        "log.message.timestamp.after.max.ms",
        "3600000",
        non_negative,
        "CreateTime timestamps further in the future than this are refused (Kafka 4.0 default).",
    ),
    key(
        "connections.max.idle.ms",
        "600000",
        positive,
        "Close a connection idle this long (also bounds how long one request may take to arrive).",
    ),
    key(
        "max.connections",
        "2147483647",
        int32_positive,
        "Connections served at once.",
    ),
    key(
        "max.connections.per.ip",
        "2147483647",
        |v| int_in(v, 0, i32::MAX as i64),
        "Connections allowed from one IP address; more are closed at accept.",
    ),
    key(
        "max.connections.per.ip.overrides",
        "",
        ip_overrides,
        "Per-IP exceptions to max.connections.per.ip, as ip:count,ip:count.",
    ),
    key(
        "metrics.port",
        "9404",
        port,
        "HTTP port for /metrics, /livez and /readyz; 0 picks a free port.",
    ),
    key(
        "process.roles",
        "",
        any,
        "What this node does: broker, controller or broker,controller (empty: both).",
    ),
    key(
        "controller.quorum.voters",
        "",
        any,
        "Metadata quorum voters id@host:port,...; empty: this node alone is the quorum.",
    ),
    key(
        "controller.quorum.bootstrap.servers",
        "",
        any,
        "Dynamic quorum (KIP-853) host:port,...: with no voters, this node waits to be added by AddRaftVoter.",
    ),
    key(
        "controller.listener.names",
        "CONTROLLER",
        any,
        "Names of the listeners the metadata quorum uses.",
    ),
    key(
        "listener.security.protocol.map",
        "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
        any,
        "Listener name to security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).",
    ),
    key(
        "inter.broker.listener.name",
        "",
        any,
        "The listener brokers use to reach each other (default: the broker listener).",
    ),
    key(
        "controller.quorum.election.timeout.ms",
        "1000",
        positive,
        "A voter that hears no leader this long starts an election.",
    ),
    key(
        "controller.quorum.fetch.timeout.ms",
        "2000",
        positive,
        "Bound of one metadata quorum request.",
    ),
    key(
        "broker.session.timeout.ms",
        "9000",
        positive,
        "A broker that sends no heartbeat this long is fenced.",
    ),
    key(
        "broker.heartbeat.interval.ms",
        "2000",
        positive,
        "How often a broker heartbeats to the active controller.",
    ),
    key(
        "replica.lag.time.max.ms",
        "30000",
        positive,
        "A follower that has not caught up with its leader this long leaves the ISR.",
    ),
    key(
        "leader.replication.throttled.rate",
        "9223372036854775807",
        non_negative,
        "Bytes per second a leader sends to throttled out-of-sync replicas (KIP-73).",
    ),
    key(
        "follower.replication.throttled.rate",
        "9223372036854775807",
        non_negative,
        "Bytes per second a follower fetches for its throttled out-of-sync replicas (KIP-73).",
    ),
    key(
        "replica.selector.class",
        "",
        replica_selector,
        "KIP-392: empty (consumers read from leaders), or org.apache.kafka.common.replica.RackAwareReplicaSelector (a consumer with client.rack reads from an in-sync replica in its rack).",
    ),
    key(
        "unclean.leader.election.enable",
        "false",
        boolean,
        "Elect a partition leader outside the in-sync replicas (data loss).",
    ),
    key(
        "auto.leader.rebalance.enable",
        "true",
        boolean,
        "The active controller moves leadership back to preferred replicas that are live and in sync, every leader.imbalance.check.interval.seconds.",
    ),
    key(
        "leader.imbalance.check.interval.seconds",
        "300",
        positive,
        "How often the active controller looks for partitions not led by their preferred replica.",
    ),
    key(
        "leader.imbalance.per.broker.percentage",
        "10",
        percentage,
        "Accepted for compatibility; as in Kafka's KRaft controller, it does not gate the rebalance.",
    ),
    key(
        "metadata.log.max.record.bytes.between.snapshots",
        "20971520",
        positive,
        "Snapshot the metadata image (and purge the log behind it) after this many log bytes.",
    ),
    key(
        "group.initial.rebalance.delay.ms",
        // Kafka's code default is 3000; 500 still gathers members that start together
        // while a lone consumer gets data within a second.
        "500",
        non_negative,
        "Delay of a new group's first rebalance, to gather members that start together.",
    ),
    key(
        "group.min.session.timeout.ms",
        "6000",
        int32_positive,
        "Smallest session timeout a member may use.",
    ),
    key(
        "group.max.session.timeout.ms",
        "1800000",
        int32_positive,
        "Largest session timeout a member may use.",
    ),
    key(
        "group.max.size",
        "2147483647",
        int32_positive,
        "Most members one classic group may have (GROUP_MAX_SIZE_REACHED beyond).",
    ),
    key(
        "group.consumer.session.timeout.ms",
        "45000",
        int32_positive,
        "KIP-848 consumer groups: a member that does not heartbeat for this long is removed.",
    ),
    key(
        "group.consumer.heartbeat.interval.ms",
        "5000",
        int32_positive,
        "KIP-848 consumer groups: how often members are told to heartbeat.",
    ),
    key(
        "group.consumer.min.session.timeout.ms",
        "45000",
        int32_positive,
        "KIP-848 consumer groups: the smallest session timeout (bounds group.consumer.session.timeout.ms).",
    ),
    key(
        "group.consumer.max.session.timeout.ms",
        "60000",
        int32_positive,
        "KIP-848 consumer groups: the largest session timeout (bounds group.consumer.session.timeout.ms).",
    ),
    key(
        "group.consumer.min.heartbeat.interval.ms",
        "5000",
        int32_positive,
        "KIP-848 consumer groups: the smallest heartbeat interval (bounds group.consumer.heartbeat.interval.ms).",
    ),
    key(
        "group.consumer.max.heartbeat.interval.ms",
        "15000",
        int32_positive,
        "KIP-848 consumer groups: the largest heartbeat interval (bounds group.consumer.heartbeat.interval.ms).",
    ),
    key(
        "group.consumer.migration.policy",
        "bidirectional",
        migration_policy,
        "Whether live groups convert between the classic and consumer protocols: bidirectional, upgrade, downgrade or disabled.",
    ),
    key(
        "group.consumer.max.size",
        "2147483647",
        int32_positive,
        "Most members one KIP-848 consumer group may have (GROUP_MAX_SIZE_REACHED beyond).",
    ),
    key(
        "group.consumer.assignors",
        "uniform,range",
        assignors,
        "Server-side assignors KIP-848 groups may use; the first is the default.",
    ),
    key(
        "offsets.topic.num.partitions",
        "50",
        |v| int_in(v, 1, 10_000),
        "Partitions of __consumer_offsets.",
    ),
    key(
        "offsets.topic.replication.factor",
        "3",
        |v| int_in(v, 1, i64::from(i16::MAX)),
        "Replication factor of __consumer_offsets, capped at the live brokers when it is created.",
    ),
    key(
        "offsets.commit.timeout.ms",
        "5000",
        positive,
        "How long a group write (offset commit, group state) waits to reach every in-sync replica.",
    ),
    key(
        "offsets.retention.minutes",
        "10080",
        positive,
        "Committed offsets of an empty group expire after this.",
    ),
    key(
        "log.cleaner.threads",
        "1",
        |v| int_in(v, 0, 64),
        "Log cleaner threads (compaction); 0 runs none.",
    ),
    key(
        "log.cleaner.dedupe.buffer.size",
        "134217728",
        |v| int_in(v, 24, i64::MAX),
        "Bytes of offset map shared by the cleaner threads (24 per key); a dirty section with more keys is cleaned over several passes.",
    ),
    key(
        "log.cleaner.io.buffer.load.factor",
        "0.9",
        |v| double_in(v, 0.1, 0.95),
        "How full a cleaner's offset map may get.",
    ),
    key(
        "log.cleaner.io.max.bytes.per.second",
        "1.7976931348623157E308",
        |v| double_in(v, f64::MIN_POSITIVE, f64::MAX),
        "Read plus write rate of the cleaner threads together.",
    ),
    key(
        "log.cleaner.backoff.ms",
        "15000",
        non_negative,
        "Sleep of a cleaner thread that found no log to clean.",
    ),
    key(
        "log.cleaner.min.cleanable.ratio",
        "0.5",
        |v| double_in(v, 0.0, 1.0),
        "Default min.cleanable.dirty.ratio: clean a log once this share of it is dirty.",
    ),
    key(
        "log.cleaner.min.compaction.lag.ms",
        "0",
        non_negative,
        "Default min.compaction.lag.ms: records stay uncompacted at least this long.",
    ),
    key(
        "log.cleaner.max.compaction.lag.ms",
        "9223372036854775807",
        positive,
        "Default max.compaction.lag.ms: a record dirty for longer makes its log cleanable.",
    ),
    key(
        "log.cleaner.delete.retention.ms",
        "86400000",
        non_negative,
        "Default delete.retention.ms: tombstones are kept this long after their first cleaning.",
    ),
    key(
        "metrics.host",
        "",
        any,
        "Address the metrics/health HTTP port binds (empty: the broker listener's address).",
    ),
    key(
        "ssl.keystore.type",
        // Kafka's default is JKS; only PEM is read here, so PEM is the default.
        "PEM",
        pem_only,
        "Format of the key store: PEM (JKS and PKCS12 are not read).",
    ),
    key(
        "ssl.keystore.location",
        "",
        any,
        "PEM file with the listener's certificate chain and private key.",
    ),
    key(
        "ssl.keystore.certificate.chain",
        "",
        any,
        "The listener's certificate chain, inline PEM (instead of ssl.keystore.location).",
    ),
    secret(
        "ssl.keystore.key",
        "",
        any,
        "The listener's private key, inline PEM (instead of ssl.keystore.location).",
    ),
    secret(
        "ssl.key.password",
        "",
        any,
        "Password of an encrypted private key (encrypted keys are refused: use an unencrypted PEM key).",
    ),
    key(
        "ssl.truststore.type",
        "PEM",
        pem_only,
        "Format of the trust store: PEM.",
    ),
    key(
        "ssl.truststore.location",
        "",
        any,
        "PEM file of the CA certificates client certificates are checked against.",
    ),
    key(
        "ssl.truststore.certificates",
        "",
        any,
        "CA certificates, inline PEM (instead of ssl.truststore.location).",
    ),
    key(
        "ssl.client.auth",
        "none",
        client_auth,
        "Client certificates: none, requested (checked if sent) or required (mTLS).",
    ),
    key(
        "ssl.principal.mapping.rules",
        "DEFAULT",
        any,
        "Rules mapping a client certificate's subject to a principal name (Kafka's RULE:...).",
    ),
    key(
        "sasl.enabled.mechanisms",
        "GSSAPI",
        any,
        "SASL mechanisms offered on SASL listeners (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).",
    ),
    secret(
        "sasl.jaas.config",
        "",
        any,
        "JAAS login config; PlainLoginModule's user_<name>=\"<password>\" entries are the PLAIN users.",
    ),
    key(
        "connections.max.reauth.ms",
        "0",
        non_negative,
        "Longest an authenticated SASL session lives before the client must re-authenticate (KIP-368; 0: forever).",
    ),
    key(
        "connection.failed.authentication.delay.ms",
        "100",
        non_negative,
        "A failed SASL authentication is answered (and its connection closed) this late, against password guessing.",
    ),
    key(
        "authorizer.class.name",
        "",
        any,
        "Authorizer: empty (none) or org.apache.kafka.metadata.authorizer.StandardAuthorizer (ACLs).",
    ),
    key(
        "super.users",
        "",
        any,
        "Principals allowed everything, `;`-separated (User:admin;User:ANONYMOUS).",
    ),
    key(
        "allow.everyone.if.no.acl.found",
        "false",
        boolean,
        "With an authorizer: a resource without any ACL is open to everyone.",
    ),
];

fn pem_only(v: &str) -> Result<(), String> {
    if v.trim().eq_ignore_ascii_case("PEM") {
        Ok(())
    } else {
        Err("only PEM is supported (JKS and PKCS12 stores are not read)".into())
    }
}

fn client_auth(v: &str) -> Result<(), String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "none" | "requested" | "required" => Ok(()),
        _ => Err("must be none, requested or required".into()),
    }
}

const fn secret(
    name: &'static str,
    default: &'static str,
    check: fn(&str) -> Result<(), String>,
    doc: &'static str,
) -> ConfigKey {
    ConfigKey {
        name,
        default,
        check,
        doc,
        sensitive: true,
    }
}

const fn key(
    name: &'static str,
    default: &'static str,
    check: fn(&str) -> Result<(), String>,
    doc: &'static str,
) -> ConfigKey {
    ConfigKey {
        name,
        default,
        check,
        doc,
        sensitive: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_passes_its_own_check() {
        for k in KEYS {
            assert!((k.check)(k.default).is_ok(), "{}", k.name);
        }
    }
}
