//! Broker configuration under Kafka's property names.
//!
//! Sources, lowest precedence first: a `.properties` file (`--config`), `FJORD_*`
//! environment variables (`FJORD_LOG_DIRS` is `log.dirs`), then `--set key=value`.
//! Every key is checked against [`KEYS`]; an unknown key or a bad value is an error
//! that names the key.

pub mod cluster;
pub mod dynamic;
mod groups;
mod keys;
mod properties;

pub use keys::{ConfigKey, KEYS};
pub use properties::parse_properties;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A configuration error: always names the key and what was wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration key `{key}` (from {source_name})")]
    UnknownKey { key: String, source_name: String },
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}:{line}: {reason}")]
    Syntax {
        path: String,
        line: usize,
        reason: String,
    },
}

/// One listener, Kafka's `PLAINTEXT://host:port` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// The address to bind: an empty host means all interfaces, like Kafka.
    pub fn bind_addr(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// The broker's typed configuration. Defaults are Kafka's unless noted.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `listeners`: where clients connect (default `PLAINTEXT://127.0.0.1:9092`; a laptop
    /// default, the operator sets `0.0.0.0`).
    pub listener: Listener,
    /// `advertised.listeners`: what Metadata tells clients; defaults to the bound listener.
    pub advertised_listener: Option<Listener>,
    /// `log.dirs`: the data directory (one directory is supported).
    pub log_dir: PathBuf,
    /// `node.id`: this broker's id.
    pub node_id: i32,
    /// `broker.rack`: rack id reported in Metadata.
    pub rack: Option<String>,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: i32,
    /// `default.replication.factor`: replication factor of an auto-created topic.
    pub default_replication_factor: i16,
    /// `min.insync.replicas`: default for topics; `acks=all` needs this many in sync.
    pub min_insync_replicas: i32,
    /// `auto.create.topics.enable`: Metadata may create unknown topics.
    pub auto_create_topics: bool,
    /// `log.segment.bytes`: roll a segment at this size.
    pub segment_bytes: u64,
    /// `log.roll.ms`: roll a segment at this age.
    pub roll_ms: u64,
    /// `log.retention.ms`: delete segments older than this (-1: keep forever).
    pub retention_ms: i64,
    /// `log.retention.bytes`: delete old segments above this partition size (-1: no limit).
    pub retention_bytes: i64,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub retention_check_interval_ms: u64,
    /// `log.index.interval.bytes`: bytes between offset index entries.
    pub index_interval_bytes: u64,
    /// `message.max.bytes`: the largest record batch a topic accepts by default.
    pub message_max_bytes: u64,
    /// `socket.request.max.bytes`: larger request frames close the connection.
    pub socket_request_max_bytes: usize,
    /// `queued.max.request.bytes`: request bytes held at once over all connections (`None`:
    /// unbounded, Kafka's -1).
    pub queued_max_request_bytes: Option<usize>,
    /// `fetch.max.bytes`: the largest Fetch response built (the first batch excepted).
    pub fetch_max_bytes: usize,
    /// `log.flush.interval.messages`: fsync after this many messages (default: never forced).
    pub flush_interval_messages: u64,
    /// `log.flush.interval.ms`: fsync when the oldest unflushed message is this old.
    pub flush_interval_ms: u64,
    /// `max.connections`: connections accepted at once; more wait in the backlog.
    pub max_connections: usize,
    /// `max.connections.per.ip`: connections from one address; more are closed at accept.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`: per-address exceptions to `max.connections.per.ip`.
    pub max_connections_per_ip_overrides: BTreeMap<std::net::IpAddr, usize>,
    /// `producer.id.expiration.ms`: idempotent producer state is forgotten after this idle time.
    pub producer_id_expiration_ms: i64,
    /// `log.message.timestamp.before.max.ms`: oldest `CreateTime` accepted, relative to now.
    pub message_timestamp_before_max_ms: i64,
    /// `log.message.timestamp.after.max.ms`: newest `CreateTime` accepted, relative to now.
    pub message_timestamp_after_max_ms: i64,
    /// `connections.max.idle.ms`: close connections idle this long; a request frame must
    /// also arrive whole within it.
    pub connections_max_idle_ms: u64,
    /// `metrics.port`: HTTP port for `/metrics`, `/livez`, `/readyz` (Fjord's own key).
    pub metrics_port: u16,
    /// `metrics.host`: address the metrics port binds (empty: the broker listener's).
    pub metrics_host: String,
    /// TLS, SASL and authorization settings (`ssl.*`, `sasl.*`, `authorizer.class.name`, ...).
    pub security: crate::security::SecurityConfig,
    /// `process.roles`: broker, controller or both (the default, and all that is built).
    pub roles: cluster::Roles,
    /// The name of the broker listener (`PLAINTEXT` unless configured otherwise).
    pub listener_name: String,
    /// The controller listener (`controller.listener.names`), where the metadata quorum
    /// talks; `None` for a single node without one.
    pub controller_listener: Option<Listener>,
    /// `controller.quorum.voters`: the static voters; empty: this node alone is the quorum.
    pub voters: Vec<cluster::Voter>,
    /// `controller.quorum.bootstrap.servers` (KIP-853): with no static voters, this node
    /// starts with no membership and waits until the leader adds it (AddRaftVoter).
    pub quorum_bootstrap_servers: Vec<String>,
    /// `controller.quorum.election.timeout.ms`: a follower without a leader this long
    /// starts an election.
    pub election_timeout_ms: u64,
    /// `controller.quorum.fetch.timeout.ms`: bound of one quorum RPC.
    pub quorum_fetch_timeout_ms: u64,
    /// `broker.session.timeout.ms`: a broker without a heartbeat this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`: how often a broker heartbeats to the controller.
    pub broker_heartbeat_interval_ms: u64,
    /// `replica.lag.time.max.ms`: a follower behind its leader this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `unclean.leader.election.enable`: elect a leader outside the ISR (off, as Kafka).
    pub unclean_leader_election: bool,
    /// `replica.selector.class` is the rack-aware selector (KIP-392): a leader names an
    /// in-sync replica in the consumer's rack as its preferred read replica.
    pub rack_aware_reads: bool,
    /// `leader.replication.throttled.rate`: bytes/s to throttled out-of-sync followers.
    pub leader_throttled_rate: u64,
    /// `follower.replication.throttled.rate`: bytes/s fetched for throttled replicas.
    pub follower_throttled_rate: u64,
    /// `auto.leader.rebalance.enable`: the active controller moves leadership back to
    /// preferred replicas that are live and in sync.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`: how often it looks.
    pub leader_imbalance_check_interval_s: u64,
    /// `metadata.log.max.record.bytes.between.snapshots`: snapshot the image and purge
    /// the metadata log once this many bytes were appended since the last snapshot.
    pub metadata_snapshot_bytes: u64,
    /// `group.initial.rebalance.delay.ms`: wait for more members before the first rebalance.
    pub group_initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`: the smallest session timeout a member may ask for.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: the largest session timeout a member may ask for.
    pub group_max_session_timeout_ms: i32,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.replication.factor`: replicas of `__consumer_offsets` (capped at the
    /// live brokers when it is created).
    pub offsets_topic_replication_factor: i16,
    /// `offsets.commit.timeout.ms`: how long a group write waits for the in-sync replicas.
    pub offsets_commit_timeout_ms: u64,
    /// `offsets.retention.minutes`: committed offsets of an empty group expire after this.
    pub offsets_retention_minutes: u64,
    /// `log.cleaner.*`: the cleaner threads' settings (topic defaults such as
    /// `log.cleaner.delete.retention.ms` are read through `topic_config`).
    pub cleaner: fjord_storage::CleanerConfig,
    /// The effective value of every key, as strings, for DescribeConfigs.
    pub effective: BTreeMap<&'static str, String>,
    /// Keys set explicitly (file, env or flag), for DescribeConfigs' `source`.
    pub explicit: BTreeMap<&'static str, String>,
    /// Cluster-wide dynamic broker configs in force (from the metadata log; see [`dynamic`]).
    pub dynamic_default: BTreeMap<&'static str, String>,
    /// This broker's own dynamic configs in force (they win over `dynamic_default`).
    pub dynamic_broker: BTreeMap<&'static str, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig::from_pairs(Vec::new()).expect("the built-in defaults are valid")
    }
}

/// Where one raw key=value came from, for error messages.
pub struct RawSetting {
    pub key: String,
    pub value: String,
    pub source_name: String,
}

impl BrokerConfig {
    /// Builds the configuration from settings in precedence order (later wins).
    pub fn from_pairs(settings: Vec<RawSetting>) -> Result<BrokerConfig, ConfigError> {
        let mut explicit: BTreeMap<&'static str, String> = BTreeMap::new();
        // Kafka's per-listener overrides (`listener.name.<name>.<key>`), for security keys.
        let mut prefixed: BTreeMap<String, String> = BTreeMap::new();
        for s in settings {
            if crate::security::is_listener_override(&s.key) {
                prefixed.insert(s.key.to_ascii_lowercase(), s.value.trim().to_string());
                continue;
            }
            let key =
                KEYS.iter()
                    .find(|k| k.name == s.key)
                    .ok_or_else(|| ConfigError::UnknownKey {
                        key: s.key.clone(),
                        source_name: s.source_name.clone(),
                    })?;
            explicit.insert(key.name, s.value.trim().to_string());
        }
        let mut effective: BTreeMap<&'static str, String> = BTreeMap::new();
        for k in KEYS {
            let v = explicit
                .get(k.name)
                .cloned()
                .unwrap_or_else(|| k.default.to_string());
            (k.check)(&v).map_err(|reason| ConfigError::InvalidValue {
                key: k.name.to_string(),
                value: v.clone(),
                reason,
            })?;
            effective.insert(k.name, v);
        }
        let get = |k: &str| effective.get(k).map(String::as_str).unwrap_or("");
        let num = |k: &str| -> i64 { get(k).parse().unwrap_or(0) };
        let float = |k: &str| -> f64 { get(k).parse().unwrap_or(0.0) };
        let invalid = |key: &str, reason: String| ConfigError::InvalidValue {
            key: key.to_string(),
            value: get(key).to_string(),
            reason,
        };
        let controller_names: Vec<String> = get("controller.listener.names")
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        let protocol_map = cluster::parse_protocol_map(get("listener.security.protocol.map"))
            .map_err(|r| invalid("listener.security.protocol.map", r))?;
        let inter_broker = get("inter.broker.listener.name")
            .trim()
            .to_ascii_uppercase();
        let setup = cluster::sort_listeners(
            &cluster::parse_listeners("listeners", get("listeners"))?,
            &protocol_map,
            &controller_names,
            &inter_broker,
        )?;
        if !inter_broker.is_empty() && inter_broker != setup.broker.name {
            return Err(invalid(
                "inter.broker.listener.name",
                format!(
                    "names no broker listener (the broker listener is {})",
                    setup.broker.name
                ),
            ));
        }
        let advertised = match get("advertised.listeners") {
            "" => None,
            v => {
                let all = cluster::parse_listeners("advertised.listeners", v)?;
                let mine = all.iter().find(|l| l.name == setup.broker.name);
                let only_one = (all.len() == 1).then(|| &all[0]);
                match mine.or(only_one) {
                    Some(l) if !controller_names.contains(&l.name) => Some(l.listener.clone()),
                    _ => {
                        return Err(invalid(
                            "advertised.listeners",
                            format!("has no entry for the broker listener {}", setup.broker.name),
                        ))
                    }
                }
            }
        };
        let roles =
            cluster::Roles::parse(get("process.roles")).map_err(|r| invalid("process.roles", r))?;
        let voters = cluster::parse_voters(get("controller.quorum.voters"))
            .map_err(|r| invalid("controller.quorum.voters", r))?;
        let quorum_bootstrap_servers =
            cluster::parse_bootstrap_servers(get("controller.quorum.bootstrap.servers"))
                .map_err(|r| invalid("controller.quorum.bootstrap.servers", r))?;
        let security = crate::security::SecurityConfig::from_settings(
            &effective,
            &prefixed,
            &setup.broker.name,
            setup.controller.as_ref().map(|c| c.name.as_str()),
            &setup.broker_protocol,
            &setup.controller_protocol,
        )?;
        let metrics_host = get("metrics.host").to_string();
        let cfg = BrokerConfig {
            security,
            metrics_host,
            listener: setup.broker.listener.clone(),
            listener_name: setup.broker.name.clone(),
            controller_listener: setup.controller.map(|c| c.listener),
            roles,
            voters,
            quorum_bootstrap_servers,
            election_timeout_ms: num("controller.quorum.election.timeout.ms") as u64,
            quorum_fetch_timeout_ms: num("controller.quorum.fetch.timeout.ms") as u64,
            broker_session_timeout_ms: num("broker.session.timeout.ms") as u64,
            broker_heartbeat_interval_ms: num("broker.heartbeat.interval.ms") as u64,
            replica_lag_time_max_ms: num("replica.lag.time.max.ms") as u64,
            unclean_leader_election: get("unclean.leader.election.enable") == "true",
            rack_aware_reads: get("replica.selector.class").trim() == keys::RACK_AWARE_SELECTOR,
            leader_throttled_rate: num("leader.replication.throttled.rate") as u64,
            follower_throttled_rate: num("follower.replication.throttled.rate") as u64,
            auto_leader_rebalance: get("auto.leader.rebalance.enable") == "true",
            leader_imbalance_check_interval_s: num("leader.imbalance.check.interval.seconds")
                as u64,
            metadata_snapshot_bytes: num("metadata.log.max.record.bytes.between.snapshots") as u64,
            advertised_listener: advertised,
            log_dir: PathBuf::from(get("log.dirs")),
            node_id: num("node.id") as i32,
            rack: Some(get("broker.rack").to_string()).filter(|s| !s.is_empty()),
            num_partitions: num("num.partitions") as i32,
            default_replication_factor: num("default.replication.factor") as i16,
            min_insync_replicas: num("min.insync.replicas") as i32,
            auto_create_topics: get("auto.create.topics.enable") == "true",
            segment_bytes: num("log.segment.bytes") as u64,
            roll_ms: num("log.roll.ms") as u64,
            retention_ms: num("log.retention.ms"),
            retention_bytes: num("log.retention.bytes"),
            retention_check_interval_ms: num("log.retention.check.interval.ms") as u64,
            index_interval_bytes: num("log.index.interval.bytes") as u64,
            message_max_bytes: num("message.max.bytes") as u64,
            socket_request_max_bytes: num("socket.request.max.bytes") as usize,
            queued_max_request_bytes: usize::try_from(num("queued.max.request.bytes")).ok(),
            fetch_max_bytes: num("fetch.max.bytes") as usize,
            flush_interval_messages: num("log.flush.interval.messages") as u64,
            flush_interval_ms: num("log.flush.interval.ms") as u64,
            max_connections: num("max.connections") as usize,
            max_connections_per_ip: num("max.connections.per.ip") as usize,
            max_connections_per_ip_overrides: crate::connection_quotas::parse_overrides(get(
                "max.connections.per.ip.overrides",
            ))
            .unwrap_or_default(),
            connections_max_idle_ms: num("connections.max.idle.ms") as u64,
            producer_id_expiration_ms: num("producer.id.expiration.ms"),
            message_timestamp_before_max_ms: num("log.message.timestamp.before.max.ms"),
            message_timestamp_after_max_ms: num("log.message.timestamp.after.max.ms"),
            metrics_port: num("metrics.port") as u16,
            group_initial_rebalance_delay_ms: num("group.initial.rebalance.delay.ms") as u64,
            group_min_session_timeout_ms: num("group.min.session.timeout.ms") as i32,
            group_max_session_timeout_ms: num("group.max.session.timeout.ms") as i32,
            offsets_topic_num_partitions: num("offsets.topic.num.partitions") as i32,
            offsets_topic_replication_factor: num("offsets.topic.replication.factor") as i16,
            offsets_commit_timeout_ms: num("offsets.commit.timeout.ms") as u64,
            offsets_retention_minutes: num("offsets.retention.minutes") as u64,
            cleaner: fjord_storage::CleanerConfig {
                threads: num("log.cleaner.threads") as usize,
                dedupe_buffer_size: num("log.cleaner.dedupe.buffer.size") as u64,
                io_buffer_load_factor: float("log.cleaner.io.buffer.load.factor"),
                io_max_bytes_per_second: float("log.cleaner.io.max.bytes.per.second"),
                backoff_ms: num("log.cleaner.backoff.ms") as u64,
            },
            effective,
            explicit,
            dynamic_default: BTreeMap::new(),
            dynamic_broker: BTreeMap::new(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Whether this node runs alone (no `controller.quorum.voters`): its own quorum.
    pub fn is_single_node(&self) -> bool {
        self.voters.is_empty() && self.quorum_bootstrap_servers.is_empty()
    }

    /// Whether this node joins a dynamic quorum: it waits to be added, and formats nothing.
    pub fn joins_dynamic_quorum(&self) -> bool {
        self.voters.is_empty() && !self.quorum_bootstrap_servers.is_empty()
    }

    /// The quorum's cross-field rules.
    fn validate_quorum(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, reason: &str| ConfigError::InvalidValue {
            key: key.into(),
            value,
            reason: reason.into(),
        };
        let roles = self
            .explicit
            .get("process.roles")
            .cloned()
            .unwrap_or_default();
        if self.roles != cluster::Roles::COMBINED {
            return Err(bad(
                "process.roles",
                roles,
                "only combined nodes (broker,controller) are built yet: separate broker-only and controller-only nodes are not",
            ));
        }
        let voters = self
            .explicit
            .get("controller.quorum.voters")
            .cloned()
            .unwrap_or_default();
        if self.voters.is_empty() {
            if !self.quorum_bootstrap_servers.is_empty() && self.controller_listener.is_none() {
                return Err(bad(
                    "controller.listener.names",
                    self.effective
                        .get("controller.listener.names")
                        .cloned()
                        .unwrap_or_default(),
                    "a node joining a dynamic quorum (controller.quorum.bootstrap.servers) needs a controller listener the leader can reach: add e.g. CONTROLLER://host:port to listeners",
                ));
            }
            return Ok(());
        }
        if !self.voters.iter().any(|v| v.id == self.node_id) {
            return Err(bad(
                "controller.quorum.voters",
                voters,
                &format!(
                    "this node (node.id={}) is a controller but not among the voters",
                    self.node_id
                ),
            ));
        }
        if self.voters.len() > 1 && self.controller_listener.is_none() {
            return Err(bad(
                "controller.listener.names",
                self.effective
                    .get("controller.listener.names")
                    .cloned()
                    .unwrap_or_default(),
                "with several voters in controller.quorum.voters this node needs a controller listener: add e.g. CONTROLLER://host:port to listeners",
            ));
        }
        Ok(())
    }

    /// Cross-field checks that a single key's check cannot make.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_quorum()?;
        groups::validate(&self.effective)?;
        if let Some(adv) = &self.advertised_listener {
            if adv.port == 0 || adv.host.is_empty() || adv.host == "0.0.0.0" {
                return Err(ConfigError::InvalidValue {
                    key: "advertised.listeners".into(),
                    value: format!("PLAINTEXT://{}:{}", adv.host, adv.port),
                    reason: "must name a reachable host and a non-zero port".into(),
                });
            }
        }
        Ok(())
    }

    /// Loads file, environment and flags in Kafka's precedence (file < env < flags).
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl Iterator<Item = (String, String)>,
        sets: &[String],
    ) -> Result<BrokerConfig, ConfigError> {
        let mut settings = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                path: path.display().to_string(),
                error,
            })?;
            let pairs = parse_properties(&text).map_err(|(line, reason)| ConfigError::Syntax {
                path: path.display().to_string(),
                line,
                reason,
            })?;
            settings.extend(pairs.into_iter().map(|(key, value)| RawSetting {
                key,
                value,
                source_name: path.display().to_string(),
            }));
        }
        let mut env: Vec<(String, String)> = env
            .filter_map(|(k, v)| Some((env_key(&k)?, (k, v))))
            .filter_map(|(key, (var, value))| {
                if KEYS.iter().any(|k| k.name == key) {
                    Some((var, value))
                } else {
                    if !NON_CONFIG_ENV.contains(&var.as_str()) {
                        tracing::warn!(variable = %var, "ignoring FJORD_* variable that names no configuration key");
                    }
                    None
                }
            })
            .collect();
        env.sort();
        for (var, value) in env {
            let key = env_key(&var).unwrap_or_default();
            settings.push(RawSetting {
                key,
                value,
                source_name: format!("environment variable {var}"),
            });
        }
        for s in sets {
            let (key, value) = s.split_once('=').ok_or_else(|| ConfigError::InvalidValue {
                key: s.clone(),
                value: String::new(),
                reason: "--set takes key=value".into(),
            })?;
            settings.push(RawSetting {
                key: key.trim().to_string(),
                value: value.to_string(),
                source_name: "--set".into(),
            });
        }
        BrokerConfig::from_pairs(settings)
    }
}

/// `FJORD_*` variables that belong to tooling rather than to the broker configuration.
const NON_CONFIG_ENV: &[&str] = &["FJORD_LOG", "FJORD_LOG_FORMAT", "FJORD_BROKER_BIN"];

/// `FJORD_LOG_DIRS` -> `log.dirs`; `None` for variables outside the prefix.
fn env_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("FJORD_")?;
    Some(rest.to_ascii_lowercase().replace('_', "."))
}

/// The listener clients are told about: `advertised.listeners`, else the bound address.
pub fn advertised(cfg: &BrokerConfig, bound: SocketAddr) -> Listener {
    if let Some(adv) = &cfg.advertised_listener {
        return adv.clone();
    }
    let host = if cfg.listener.host.is_empty() || cfg.listener.host == "0.0.0.0" {
        "127.0.0.1".to_string()
    } else {
        cfg.listener.host.clone()
    };
    Listener {
        host,
        port: bound.port(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str, env: &[(&str, &str)], sets: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(&path, file).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        BrokerConfig::load(Some(&path), env, &sets)
    }

    #[test]
    fn defaults_start_a_laptop_broker() {
        let cfg = BrokerConfig::default();
        assert_eq!(cfg.listener.bind_addr(), "127.0.0.1:9092");
        assert_eq!(cfg.num_partitions, 1);
        assert!(cfg.auto_create_topics);
        assert_eq!(cfg.metrics_port, 9404);
    }

    #[test]
    fn precedence_is_file_then_env_then_set() {
        let cfg = load(
            "num.partitions=2\nlog.dirs=/file\nlog.segment.bytes=1048576\n",
            &[("FJORD_NUM_PARTITIONS", "3"), ("FJORD_LOG_DIRS", "/env")],
            &["num.partitions=4"],
        )
        .unwrap();
        assert_eq!(cfg.num_partitions, 4);
        assert_eq!(cfg.log_dir, PathBuf::from("/env"));
        assert_eq!(cfg.segment_bytes, 1048576);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = load("log.dirz=/x\n", &[], &[]).unwrap_err().to_string();
        assert!(err.contains("log.dirz"), "{err}");
        let err = load("", &[], &["nope=1"]).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn bad_value_is_an_error_naming_the_key() {
        let err = load("num.partitions=zero\n", &[], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("num.partitions") && err.contains("zero"),
            "{err}"
        );
        let err = load("", &[], &["listeners=x:1"]).unwrap_err().to_string();
        assert!(err.contains("listeners"), "{err}");
        let err = load("", &[], &["auto.create.topics.enable=yes"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auto.create.topics.enable"), "{err}");
    }

    #[test]
    fn listeners_parse_kafka_form() {
        let cfg = load("", &[], &["listeners=PLAINTEXT://0.0.0.0:19092"]).unwrap();
        assert_eq!(cfg.listener.port, 19092);
        assert_eq!(cfg.listener.bind_addr(), "0.0.0.0:19092");
        let adv = advertised(&cfg, "0.0.0.0:19092".parse().unwrap());
        assert_eq!(adv.host, "127.0.0.1");
    }

    #[test]
    fn a_multi_voter_quorum_needs_this_node_among_the_voters_and_a_controller_listener() {
        let listeners = "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093";
        let voters = "controller.quorum.voters=0@127.0.0.1:9093,1@127.0.0.1:19093";
        let cfg = load("", &[], &[listeners, voters]).unwrap();
        assert_eq!(cfg.voters.len(), 2);
        assert_eq!(cfg.controller_listener.as_ref().unwrap().port, 9093);
        assert_eq!(cfg.listener.port, 9092);
        let err = load("", &[], &[voters]).unwrap_err().to_string();
        assert!(err.contains("controller listener"), "{err}");
        let err = load("", &[], &[listeners, voters, "node.id=7"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("node.id=7"), "{err}");
        assert!(load("", &[], &["controller.quorum.voters=0@a:9093"]).is_ok());
    }

    #[test]
    fn kraft_keys_have_kafkas_defaults() {
        let cfg = BrokerConfig::default();
        assert_eq!(cfg.roles, cluster::Roles::COMBINED);
        assert_eq!(cfg.broker_session_timeout_ms, 9000);
        assert_eq!(cfg.broker_heartbeat_interval_ms, 2000);
        assert_eq!(cfg.election_timeout_ms, 1000);
        assert_eq!(cfg.quorum_fetch_timeout_ms, 2000);
        assert!(!cfg.unclean_leader_election);
        assert!(cfg.auto_leader_rebalance);
        assert_eq!(cfg.leader_imbalance_check_interval_s, 300);
        assert_eq!(cfg.metadata_snapshot_bytes, 20 * 1024 * 1024);
        assert!(cfg.voters.is_empty());
    }

    #[test]
    fn a_sasl_listener_without_a_supported_mechanism_is_refused() {
        let err = load("", &[], &["listeners=SASL_PLAINTEXT://127.0.0.1:9092"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("sasl.enabled.mechanisms"), "{err}");
    }
}
