//! Admin APIs through rdkafka's AdminClient: CreateTopics, DeleteTopics, CreatePartitions,
//! DescribeConfigs, AlterConfigs, and that topics and configs survive a restart.

use fjord_tests::*;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, DescribeConfigsRequest,
    DescribeConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{
    AlterConfig, ConfigResource, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::types::RDKafkaErrorCode;

const TOPIC: i8 = 2;

fn s(v: &'static str) -> StrBytes {
    StrBytes::from_static_str(v)
}

fn create(
    broker: &Broker,
    topic: NewTopic<'_>,
    validate_only: bool,
) -> Result<(), RDKafkaErrorCode> {
    let admin = broker.admin();
    let res =
        block_on(admin.create_topics([&topic], &admin_options().validate_only(validate_only)))
            .expect("CreateTopics request");
    assert_eq!(res.len(), 1);
    match &res[0] {
        Ok(name) => {
            assert_eq!(name, topic.name);
            Ok(())
        }
        Err((name, code)) => {
            assert_eq!(name, topic.name);
            Err(*code)
        }
    }
}

fn describe_topic(broker: &Broker, topic: &str) -> ConfigResource {
    let admin = broker.admin();
    let mut res =
        block_on(admin.describe_configs([&ResourceSpecifier::Topic(topic)], &admin_options()))
            .expect("DescribeConfigs request");
    assert_eq!(res.len(), 1);
    res.remove(0)
        .unwrap_or_else(|code| panic!("describe configs of {topic}: {code:?}"))
}

fn value<'a>(res: &'a ConfigResource, name: &str) -> &'a rdkafka::admin::ConfigEntry {
    res.get(name)
        .unwrap_or_else(|| panic!("{name} missing from DescribeConfigs: {:?}", res.entries))
}

#[test]
fn create_topics_validates_like_kafka_and_validate_only_creates_nothing() {
    let broker = Broker::start();

    assert_eq!(
        create(
            &broker,
            NewTopic::new("t1", 3, TopicReplication::Fixed(1)),
            false
        ),
        Ok(())
    );
    wait_for_partitions(&broker.bootstrap, "t1", 3);
    assert_eq!(
        create(
            &broker,
            NewTopic::new("t1", 3, TopicReplication::Fixed(1)),
            false
        ),
        Err(RDKafkaErrorCode::TopicAlreadyExists)
    );
    assert_eq!(
        create(
            &broker,
            NewTopic::new("zero-partitions", 0, TopicReplication::Fixed(1)),
            false
        ),
        Err(RDKafkaErrorCode::InvalidPartitions)
    );
    assert_eq!(
        create(
            &broker,
            NewTopic::new("rf3", 1, TopicReplication::Fixed(3)),
            false
        ),
        Err(RDKafkaErrorCode::InvalidReplicationFactor),
        "replication factor 3 on a single broker"
    );
    assert_eq!(
        create(
            &broker,
            NewTopic::new("bad-config", 1, TopicReplication::Fixed(1))
                .set("retention.ms", "not-a-number"),
            false
        ),
        Err(RDKafkaErrorCode::InvalidConfig)
    );
    assert_eq!(
        create(
            &broker,
            NewTopic::new("unknown-config", 1, TopicReplication::Fixed(1))
                .set("no.such.config", "1"),
            false
        ),
        Err(RDKafkaErrorCode::InvalidConfig)
    );
    // Validate only: a valid request succeeds, an invalid one fails the same way, nothing is made.
    assert_eq!(
        create(
            &broker,
            NewTopic::new("validated", 2, TopicReplication::Fixed(1)),
            true
        ),
        Ok(())
    );
    assert_eq!(
        create(
            &broker,
            NewTopic::new("t1", 2, TopicReplication::Fixed(1)),
            true
        ),
        Err(RDKafkaErrorCode::TopicAlreadyExists)
    );
    assert_eq!(
        create(
            &broker,
            NewTopic::new("validated-bad", 0, TopicReplication::Fixed(1)),
            true
        ),
        Err(RDKafkaErrorCode::InvalidPartitions)
    );
    // -1 partitions and replication factor: the broker's defaults (num.partitions).
    assert_eq!(
        create(
            &broker,
            NewTopic::new("defaults", -1, TopicReplication::Fixed(-1)),
            false
        ),
        Ok(())
    );
    wait_for_partitions(&broker.bootstrap, "defaults", 1);

    let names = topic_names(&broker.bootstrap);
    for absent in [
        "zero-partitions",
        "rf3",
        "bad-config",
        "unknown-config",
        "validated",
        "validated-bad",
    ] {
        assert!(
            !names.iter().any(|n| n == absent),
            "{absent} exists: {names:?}"
        );
    }
    assert!(names.iter().any(|n| n == "t1"));
}

#[test]
fn delete_topics_removes_the_topic_and_its_data() {
    let broker = Broker::start();
    broker.create_topic("doomed", 2, &[]);
    produce_n(&broker.bootstrap, "doomed", 100, 2);
    let admin = broker.admin();
    let res = block_on(admin.delete_topics(&["doomed", "never-existed"], &admin_options()))
        .expect("DeleteTopics request");
    assert_eq!(res[0], Ok("doomed".to_string()));
    assert_eq!(
        res[1],
        Err((
            "never-existed".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))
    );
    wait_until(CLIENT_TIMEOUT, "doomed gone from metadata", || {
        !topic_names(&broker.bootstrap).iter().any(|n| n == "doomed")
    });
    // Recreated under the same name, it starts empty.
    broker.create_topic("doomed", 2, &[]);
    let wm = watermarks(&broker.bootstrap, "doomed");
    assert!(
        wm.values().all(|&w| w == (0, 0)),
        "recreated topic has data: {wm:?}"
    );
}

#[test]
fn create_partitions_grows_a_topic_and_refuses_to_shrink_it() {
    let broker = Broker::start();
    broker.create_topic("grow", 2, &[]);
    produce_n(&broker.bootstrap, "grow", 10, 2);
    let admin = broker.admin();
    let res = block_on(admin.create_partitions([&NewPartitions::new("grow", 5)], &admin_options()))
        .expect("CreatePartitions request");
    assert_eq!(res, vec![Ok("grow".to_string())]);
    wait_for_partitions(&broker.bootstrap, "grow", 5);
    // The new partitions take messages; the old ones keep theirs.
    let acked = produce_ok(
        &producer_config(&broker.bootstrap, "none"),
        "grow",
        &[Outgoing::new(4, "k", "in a new partition")],
    );
    assert_eq!(acked, vec![(4, 0)]);
    let wm = watermarks(&broker.bootstrap, "grow");
    assert_eq!(wm[&0], (0, 5));
    assert_eq!(wm[&1], (0, 5));

    let res = block_on(admin.create_partitions([&NewPartitions::new("grow", 3)], &admin_options()))
        .expect("CreatePartitions request");
    assert_eq!(
        res,
        vec![Err((
            "grow".to_string(),
            RDKafkaErrorCode::InvalidPartitions
        ))]
    );
    let res = block_on(admin.create_partitions([&NewPartitions::new("nope", 3)], &admin_options()))
        .expect("CreatePartitions request");
    assert_eq!(
        res,
        vec![Err((
            "nope".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );
    wait_for_partitions(&broker.bootstrap, "grow", 5);
}

#[test]
fn describe_configs_reports_values_with_their_sources() {
    // A static broker setting is the topic default, reported as STATIC_BROKER_CONFIG.
    let broker = Broker::start_with(&[("log.retention.bytes", "123456789")]);
    broker.create_topic("described", 1, &[("retention.ms", "3600000")]);
    let res = describe_topic(&broker, "described");

    let retention_ms = value(&res, "retention.ms");
    assert_eq!(retention_ms.value.as_deref(), Some("3600000"));
    assert_eq!(retention_ms.source, ConfigSource::DynamicTopic);
    assert!(!retention_ms.is_default);

    let retention_bytes = value(&res, "retention.bytes");
    assert_eq!(retention_bytes.value.as_deref(), Some("123456789"));
    assert_eq!(retention_bytes.source, ConfigSource::StaticBroker);

    let segment_bytes = value(&res, "segment.bytes");
    assert_eq!(segment_bytes.value.as_deref(), Some("1073741824"));
    assert_eq!(segment_bytes.source, ConfigSource::Default);
    assert!(segment_bytes.is_default);

    let cleanup = value(&res, "cleanup.policy");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert_eq!(cleanup.source, ConfigSource::Default);

    for name in [
        "segment.ms",
        "max.message.bytes",
        "min.insync.replicas",
        "message.timestamp.type",
    ] {
        value(&res, name);
    }

    // Broker configs, by node id.
    let admin = broker.admin();
    let mut res =
        block_on(admin.describe_configs([&ResourceSpecifier::Broker(0)], &admin_options()))
            .expect("DescribeConfigs request");
    let res = res.remove(0).expect("broker 0 configs");
    let lrb = value(&res, "log.retention.bytes");
    assert_eq!(lrb.value.as_deref(), Some("123456789"));
    assert_eq!(lrb.source, ConfigSource::StaticBroker);
    let dirs = value(&res, "log.dirs");
    assert_eq!(
        dirs.value.as_deref(),
        Some(broker.data_dir.to_str().unwrap())
    );

    // An unknown topic is an error for that resource (raw protocol: rdkafka 0.39 drops
    // per-resource DescribeConfigs errors).
    let mut conn = RawConn::connect(&broker.bootstrap);
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(s("missing"))]);
    let resp: DescribeConfigsResponse = conn.request(ApiKey::DescribeConfigs, 1, &req);
    assert_eq!(
        resp.results[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION: {resp:?}"
    );
}

#[test]
fn altered_configs_show_in_describe_and_survive_a_restart_with_the_topics() {
    let mut broker = Broker::start();
    broker.create_topic("altered", 4, &[("segment.ms", "600000")]);
    broker.create_topic("other", 2, &[]);
    let admin = broker.admin();
    let alter = AlterConfig::new(ResourceSpecifier::Topic("altered"))
        .set("retention.ms", "1234567")
        .set("max.message.bytes", "200000")
        .set("cleanup.policy", "compact");
    let res =
        block_on(admin.alter_configs([&alter], &admin_options())).expect("AlterConfigs request");
    assert!(res[0].is_ok(), "alter configs: {res:?}");

    let check = |broker: &Broker| {
        let res = describe_topic(broker, "altered");
        let e = value(&res, "retention.ms");
        assert_eq!(e.value.as_deref(), Some("1234567"));
        assert_eq!(e.source, ConfigSource::DynamicTopic);
        assert_eq!(
            value(&res, "max.message.bytes").value.as_deref(),
            Some("200000")
        );
        assert_eq!(
            value(&res, "cleanup.policy").value.as_deref(),
            Some("compact")
        );
        // AlterConfigs (not incremental) replaces the whole set: segment.ms is back to default.
        let seg = value(&res, "segment.ms");
        assert_eq!(seg.value.as_deref(), Some("604800000"));
        assert_eq!(seg.source, ConfigSource::Default);
    };
    check(&broker);

    // A bad value is INVALID_CONFIG and changes nothing (raw protocol: rdkafka 0.39 reports
    // every AlterConfigs resource as a success).
    let mut conn = RawConn::connect(&broker.bootstrap);
    let req = AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(TOPIC)
        .with_resource_name(s("altered"))
        .with_configs(vec![AlterableConfig::default()
            .with_name(s("retention.ms"))
            .with_value(Some(s("soon")))])]);
    let resp: AlterConfigsResponse = conn.request(ApiKey::AlterConfigs, 1, &req);
    assert_eq!(resp.responses[0].error_code, 40, "INVALID_CONFIG: {resp:?}");
    check(&broker);
    drop(admin);

    broker.restart();
    check(&broker);
    wait_for_partitions(&broker.bootstrap, "altered", 4);
    wait_for_partitions(&broker.bootstrap, "other", 2);
    let res = describe_topic(&broker, "other");
    assert_eq!(value(&res, "retention.ms").source, ConfigSource::Default);
}

#[test]
fn incremental_alter_configs_sets_and_deletes_single_keys() {
    let broker = Broker::start();
    broker.create_topic("inc", 1, &[("segment.ms", "600000")]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let alter = |conn: &mut RawConn, ops: Vec<(&'static str, i8, Option<&'static str>)>| {
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            IncrementalResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s("inc"))
                .with_configs(
                    ops.into_iter()
                        .map(|(k, op, v)| {
                            IncrementalConfig::default()
                                .with_name(s(k))
                                .with_config_operation(op)
                                .with_value(v.map(s))
                        })
                        .collect(),
                ),
        ]);
        let resp: IncrementalAlterConfigsResponse =
            conn.request(ApiKey::IncrementalAlterConfigs, 0, &req);
        resp.responses[0].error_code
    };
    // SET (0) one key: the other dynamic key is kept.
    assert_eq!(alter(&mut conn, vec![("retention.ms", 0, Some("7777"))]), 0);
    let res = describe_topic(&broker, "inc");
    assert_eq!(value(&res, "retention.ms").value.as_deref(), Some("7777"));
    assert_eq!(value(&res, "segment.ms").value.as_deref(), Some("600000"));
    // DELETE (1): back to the default.
    assert_eq!(alter(&mut conn, vec![("segment.ms", 1, None)]), 0);
    let res = describe_topic(&broker, "inc");
    assert_eq!(value(&res, "segment.ms").source, ConfigSource::Default);
    assert_eq!(value(&res, "retention.ms").value.as_deref(), Some("7777"));
    // A bad value: INVALID_CONFIG, nothing changes.
    assert_eq!(alter(&mut conn, vec![("retention.ms", 0, Some("x"))]), 40);
    let res = describe_topic(&broker, "inc");
    assert_eq!(value(&res, "retention.ms").value.as_deref(), Some("7777"));
}

#[test]
fn delete_topics_v6_deletes_by_topic_id_and_reports_unknown_ids() {
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{
        DeleteTopicsRequest, DeleteTopicsResponse, MetadataRequest, MetadataResponse, TopicName,
    };
    let broker = Broker::start();
    broker.create_topic("by-id", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let meta: MetadataResponse = conn.request(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(s("by-id"))))
        ])),
    );
    let id = meta.topics[0].topic_id;
    assert!(!id.is_nil(), "Metadata v12 carries the topic id");
    let unknown = uuid_like(id);
    let resp: DeleteTopicsResponse = conn.request(
        ApiKey::DeleteTopics,
        6,
        &DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                DeleteTopicState::default().with_topic_id(id),
                DeleteTopicState::default().with_topic_id(unknown),
            ]),
    );
    assert_eq!(resp.responses[0].error_code, 0);
    assert_eq!(
        resp.responses[0]
            .name
            .as_ref()
            .map(|n| n.0.to_string())
            .as_deref(),
        Some("by-id")
    );
    assert_eq!(resp.responses[1].error_code, 100, "UNKNOWN_TOPIC_ID");
    assert!(!topic_names(&broker.bootstrap).iter().any(|n| n == "by-id"));
}

/// A topic id that differs from `id` (the last byte flipped).
fn uuid_like(id: uuid::Uuid) -> uuid::Uuid {
    let mut bytes = id.into_bytes();
    bytes[15] ^= 0xff;
    uuid::Uuid::from_bytes(bytes)
}
