//! Dynamic broker configs, as Kafka's: IncrementalAlterConfigs / AlterConfigs on BROKER
//! resources (cluster-wide `""` and per node id), kept in the metadata log, applied live
//! (retention of an existing topic acts on a new default without a restart), reported by
//! DescribeConfigs with Kafka's sources, kept across a restart; read-only keys refused.

use fjord_tests::*;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, DescribeConfigsRequest,
    DescribeConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{ConfigResource, ConfigSource, ResourceSpecifier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;
const INVALID_REQUEST: i16 = 42;
const INVALID_CONFIG: i16 = 40;
/// Kafka's DescribeConfigs config_source values.
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: &str = "86400000";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One IncrementalAlterConfigs on a BROKER resource; returns the error code and message.
fn alter_broker(
    bootstrap: &str,
    resource: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> (i16, Option<String>) {
    let mut conn = RawConn::connect(bootstrap);
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        IncrementalResource::default()
            .with_resource_type(BROKER)
            .with_resource_name(s(resource))
            .with_configs(
                ops.iter()
                    .map(|(k, op, v)| {
                        IncrementalConfig::default()
                            .with_name(s(k))
                            .with_config_operation(*op)
                            .with_value(v.map(s))
                    })
                    .collect(),
            ),
    ]);
    let resp: IncrementalAlterConfigsResponse =
        conn.request(ApiKey::IncrementalAlterConfigs, 1, &req);
    let r = &resp.responses[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// DescribeConfigs (v4, with synonyms) of one resource through the raw protocol.
fn describe(bootstrap: &str, resource_type: i8, name: &str) -> DescribeConfigsResult {
    let mut conn = RawConn::connect(bootstrap);
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(None)]);
    let mut resp: DescribeConfigsResponse = conn.request(ApiKey::DescribeConfigs, 4, &req);
    let r = resp.results.remove(0);
    assert_eq!(r.error_code, 0, "describe {name}: {r:?}");
    r
}

/// `(value, source, read_only, synonym sources)` of `key` in a DescribeConfigs result.
fn entry(r: &DescribeConfigsResult, key: &str) -> (String, i8, bool, Vec<i8>) {
    let e = r
        .configs
        .iter()
        .find(|c| &*c.name == key)
        .unwrap_or_else(|| panic!("{key} missing: {r:?}"));
    (
        e.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
        e.config_source,
        e.read_only,
        e.synonyms.iter().map(|s| s.source).collect(),
    )
}

fn describe_topic(bootstrap: &str, topic: &str) -> ConfigResource {
    let admin = client_config(bootstrap)
        .create::<rdkafka::admin::AdminClient<_>>()
        .expect("admin client");
    let mut res =
        block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &admin_options()))
            .expect("DescribeConfigs request");
    res.remove(0)
        .unwrap_or_else(|code| panic!("describe configs of {topic}: {code:?}"))
}

fn topic_value(bootstrap: &str, topic: &str, key: &str) -> (Option<String>, ConfigSource) {
    let res = describe_topic(bootstrap, topic);
    let e = res
        .entries
        .into_iter()
        .find(|e| e.name == key)
        .unwrap_or_else(|| panic!("{key} missing from {topic}'s configs"));
    (e.value, e.source)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Fills every partition of `topic` with records stamped two hours ago, over several
/// segments (the topic has small segments), so that any retention under two hours
/// deletes all but the active segment.
fn fill_with_old_records(bootstrap: &str, topic: &str, partitions: i32) {
    let old = now_ms() - 2 * HOUR_MS;
    let msgs: Vec<Outgoing> = (0..60 * partitions)
        .map(|i| {
            let mut m = Outgoing::new(i % partitions, format!("k{i}"), vec![b'x'; 200]);
            m.timestamp = Some(old);
            m
        })
        .collect();
    // Small batches: a batch larger than the topic's segments is refused.
    let mut cfg = producer_config(bootstrap, "none");
    cfg.set("batch.size", "1500");
    produce_ok(&cfg, topic, &msgs);
}

fn low_watermarks(bootstrap: &str, topic: &str) -> Vec<i64> {
    watermarks(bootstrap, topic)
        .values()
        .map(|(low, _)| *low)
        .collect()
}

const SMALL_SEGMENTS: (&str, &str) = ("segment.bytes", "4096");
const QUICK_RETENTION_CHECKS: (&str, &str) = ("log.retention.check.interval.ms", "100");

#[test]
fn dynamic_broker_configs_apply_live_per_broker_beats_default_and_survive_restart() {
    let mut broker = Broker::start_with(&[QUICK_RETENTION_CHECKS, ("log.retention.bytes", "-1")]);
    let bs = broker.bootstrap.clone();
    broker.create_topic("aging", 1, &[SMALL_SEGMENTS]);
    fill_with_old_records(&bs, "aging", 1);
    assert_eq!(low_watermarks(&bs, "aging"), [0]);

    // Cluster-wide default of one day: records two hours old stay.
    assert_eq!(
        alter_broker(&bs, "", &[("log.retention.ms", SET, Some(DAY_MS))]).0,
        0
    );
    let (value, source) = topic_value(&bs, "aging", "retention.ms");
    assert_eq!(value.as_deref(), Some(DAY_MS));
    assert_eq!(source, ConfigSource::DynamicDefaultBroker);
    let (v, src, read_only, synonyms) = entry(&describe(&bs, BROKER, "0"), "log.retention.ms");
    assert_eq!(
        (v.as_str(), src, read_only),
        (DAY_MS, DYNAMIC_DEFAULT_BROKER_CONFIG, false)
    );
    assert_eq!(synonyms, [DYNAMIC_DEFAULT_BROKER_CONFIG, DEFAULT_CONFIG]);
    // The "" resource lists the cluster-wide defaults that are set, and only those.
    let defaults = describe(&bs, BROKER, "");
    assert_eq!(
        defaults
            .configs
            .iter()
            .map(|c| c.name.to_string())
            .collect::<Vec<_>>(),
        ["log.retention.ms"]
    );

    // This broker's own value (one hour) wins over the default: retention acts at once.
    assert_eq!(
        alter_broker(&bs, "0", &[("log.retention.ms", SET, Some("3600000"))]).0,
        0
    );
    let (value, source) = topic_value(&bs, "aging", "retention.ms");
    assert_eq!(value.as_deref(), Some("3600000"));
    assert_eq!(source, ConfigSource::DynamicBroker);
    let (_, src, _, synonyms) = entry(&describe(&bs, BROKER, "0"), "log.retention.ms");
    assert_eq!(src, DYNAMIC_BROKER_CONFIG);
    assert_eq!(
        synonyms,
        [
            DYNAMIC_BROKER_CONFIG,
            DYNAMIC_DEFAULT_BROKER_CONFIG,
            DEFAULT_CONFIG
        ]
    );
    let (_, src, _, synonyms) = entry(&describe(&bs, TOPIC, "aging"), "retention.ms");
    assert_eq!(src, DYNAMIC_BROKER_CONFIG);
    assert_eq!(
        synonyms,
        [
            DYNAMIC_BROKER_CONFIG,
            DYNAMIC_DEFAULT_BROKER_CONFIG,
            DEFAULT_CONFIG
        ]
    );
    wait_until(
        Duration::from_secs(30),
        "retention deletes the old segments under the new per-broker log.retention.ms",
        || low_watermarks(&bs, "aging")[0] > 0,
    );

    // A static setting is reported as such; a static key cannot be changed live.
    let (v, src, read_only, _) = entry(&describe(&bs, BROKER, "0"), "log.retention.bytes");
    assert_eq!(
        (v.as_str(), src, read_only),
        ("-1", STATIC_BROKER_CONFIG, false)
    );
    let (_, src, read_only, _) = entry(&describe(&bs, BROKER, "0"), "log.dirs");
    assert_eq!((src, read_only), (STATIC_BROKER_CONFIG, true));
    for resource in ["", "0"] {
        let (code, message) = alter_broker(&bs, resource, &[("log.dirs", SET, Some("/tmp/x"))]);
        assert_eq!(code, INVALID_REQUEST, "{message:?}");
        assert!(message.unwrap_or_default().contains("log.dirs"));
    }
    let (code, message) = alter_broker(&bs, "", &[("no.such.config", SET, Some("1"))]);
    assert_eq!(code, INVALID_CONFIG, "{message:?}");
    let (code, message) = alter_broker(&bs, "", &[("log.retention.ms", SET, Some("soon"))]);
    assert_eq!(code, INVALID_REQUEST, "{message:?}");
    assert!(message.unwrap_or_default().contains("log.retention.ms"));
    // The legacy AlterConfigs refuses the same way, and nothing changed.
    let mut conn = RawConn::connect(&bs);
    let req = AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(BROKER)
        .with_resource_name(s(""))
        .with_configs(vec![AlterableConfig::default()
            .with_name(s("node.id"))
            .with_value(Some(s("7")))])]);
    let resp: AlterConfigsResponse = conn.request(ApiKey::AlterConfigs, 1, &req);
    assert_eq!(resp.responses[0].error_code, INVALID_REQUEST, "{resp:?}");
    let (v, _, _, _) = entry(&describe(&bs, BROKER, ""), "log.retention.ms");
    assert_eq!(v, DAY_MS);

    // Both levels survive a restart and are in force from the start.
    broker.restart();
    let bs = broker.bootstrap.clone();
    let (value, source) = topic_value(&bs, "aging", "retention.ms");
    assert_eq!(value.as_deref(), Some("3600000"));
    assert_eq!(source, ConfigSource::DynamicBroker);
    let (v, src, _, _) = entry(&describe(&bs, BROKER, ""), "log.retention.ms");
    assert_eq!((v.as_str(), src), (DAY_MS, DYNAMIC_DEFAULT_BROKER_CONFIG));

    // Deleting the per-broker value falls back to the cluster-wide default.
    assert_eq!(
        alter_broker(&bs, "0", &[("log.retention.ms", DELETE, None)]).0,
        0
    );
    let (value, source) = topic_value(&bs, "aging", "retention.ms");
    assert_eq!(value.as_deref(), Some(DAY_MS));
    assert_eq!(source, ConfigSource::DynamicDefaultBroker);
}

#[test]
fn log_cleanup_policy_default_and_legacy_alter_configs_replace_the_set() {
    let broker = Broker::start();
    let bs = broker.bootstrap.clone();
    broker.create_topic("policy", 1, &[]);
    let (value, source) = topic_value(&bs, "policy", "cleanup.policy");
    assert_eq!(value.as_deref(), Some("delete"));
    assert_eq!(source, ConfigSource::Default);

    // AlterConfigs (legacy) replaces the whole set of the cluster-wide resource.
    let mut conn = RawConn::connect(&bs);
    let legacy = |conn: &mut RawConn, pairs: &[(&str, &str)]| {
        let req =
            AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(BROKER)
                .with_resource_name(s(""))
                .with_configs(
                    pairs
                        .iter()
                        .map(|(k, v)| {
                            AlterableConfig::default()
                                .with_name(s(k))
                                .with_value(Some(s(v)))
                        })
                        .collect(),
                )]);
        let resp: AlterConfigsResponse = conn.request(ApiKey::AlterConfigs, 1, &req);
        resp.responses[0].error_code
    };
    assert_eq!(
        legacy(
            &mut conn,
            &[
                ("log.cleanup.policy", "compact"),
                ("message.max.bytes", "2000000")
            ]
        ),
        0
    );
    let (value, source) = topic_value(&bs, "policy", "cleanup.policy");
    assert_eq!(value.as_deref(), Some("compact"));
    assert_eq!(source, ConfigSource::DynamicDefaultBroker);
    let (value, _) = topic_value(&bs, "policy", "max.message.bytes");
    assert_eq!(value.as_deref(), Some("2000000"));
    assert_eq!(legacy(&mut conn, &[("log.cleanup.policy", "delete")]), 0);
    let (value, source) = topic_value(&bs, "policy", "max.message.bytes");
    assert_eq!(value.as_deref(), Some("1048588"));
    assert_eq!(source, ConfigSource::Default);
}

#[test]
fn a_cluster_wide_change_reaches_every_broker_of_a_three_node_cluster() {
    let mut cluster = Cluster::start_with(3, &[QUICK_RETENTION_CHECKS]);
    let bootstrap = cluster.bootstrap();
    cluster.wait_for_brokers(0, &[0, 1, 2], Duration::from_secs(30));
    cluster.nodes[0].create_topic("spread", 3, &[SMALL_SEGMENTS]);
    fill_with_old_records(&bootstrap, "spread", 3);
    assert_eq!(low_watermarks(&bootstrap, "spread"), [0, 0, 0]);

    // Sent to node 1 (forwarded to the active controller, wherever it is).
    let (code, message) = alter_broker(
        &cluster.nodes[1].bootstrap,
        "",
        &[("log.retention.ms", SET, Some("3600000"))],
    );
    assert_eq!(code, 0, "{message:?}");
    // One node's own override is seen by that node only.
    let (code, message) = alter_broker(
        &cluster.nodes[0].bootstrap,
        "2",
        &[("log.retention.bytes", SET, Some("1000000000"))],
    );
    assert_eq!(code, 0, "{message:?}");
    for (i, node) in cluster.nodes.iter().enumerate() {
        let bs = node.bootstrap.clone();
        wait_until(
            Duration::from_secs(15),
            &format!("node {i} applies the dynamic configs"),
            || {
                let r = describe(&bs, BROKER, &i.to_string());
                let retention = entry(&r, "log.retention.ms");
                let bytes = entry(&r, "log.retention.bytes");
                let want_bytes = if i == 2 {
                    ("1000000000".to_string(), DYNAMIC_BROKER_CONFIG)
                } else {
                    ("-1".to_string(), DEFAULT_CONFIG)
                };
                retention.0 == "3600000"
                    && retention.1 == DYNAMIC_DEFAULT_BROKER_CONFIG
                    && (bytes.0, bytes.1) == want_bytes
            },
        );
    }
    // Every partition, whichever node hosts it, loses its old segments.
    wait_until(
        Duration::from_secs(30),
        "retention deletes the old segments on every broker",
        || low_watermarks(&bootstrap, "spread").iter().all(|l| *l > 0),
    );
}
