//! Clients cannot create, delete, grow, truncate or reconfigure the broker's internal
//! topics (`__cluster_metadata`, `__consumer_offsets`, `__transaction_state`), and no
//! attempt to touches the cluster metadata or any other topic's data.

use fjord_tests::*;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteRecordsRequest,
    DeleteRecordsResponse, DeleteTopicsRequest, DeleteTopicsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUEST: i16 = 42;
const INTERNAL: [&str; 3] = [
    "__cluster_metadata",
    "__consumer_offsets",
    "__transaction_state",
];

fn name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

fn create_topics(conn: &mut RawConn, names: &[&str]) -> CreateTopicsResponse {
    let topics = names
        .iter()
        .map(|n| {
            CreatableTopic::default()
                .with_name(name(n))
                .with_num_partitions(1)
                .with_replication_factor(1)
        })
        .collect();
    conn.request(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(topics),
    )
}

fn delete_topics(conn: &mut RawConn, names: &[&str]) -> DeleteTopicsResponse {
    conn.request(
        ApiKey::DeleteTopics,
        4,
        &DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topic_names(names.iter().map(|n| name(n)).collect()),
    )
}

#[test]
fn creating_and_deleting_cluster_metadata_cannot_wipe_the_broker() {
    let mut broker = Broker::start();
    broker.create_topic("keep", 2, &[]);
    produce_n(&broker.bootstrap, "keep", 20, 2);

    let mut conn = RawConn::connect(&broker.bootstrap);
    let created = create_topics(&mut conn, &INTERNAL);
    for r in &created.topics {
        assert_eq!(
            r.error_code, INVALID_REQUEST,
            "CreateTopics of internal topic {:?}: {r:?}",
            r.name
        );
        assert!(r.error_message.is_some(), "{r:?}");
    }
    let deleted = delete_topics(&mut conn, &["__cluster_metadata"]);
    assert_ne!(deleted.responses[0].error_code, 0, "{deleted:?}");
    let names = topic_names(&broker.bootstrap);
    assert!(
        !names
            .iter()
            .any(|n| n == "__cluster_metadata" || n == "__transaction_state"),
        "{names:?}"
    );

    // The metadata log is outside the topic namespace, and survives a restart with the data.
    assert!(broker
        .data_dir
        .join("cluster-metadata/metadata.log")
        .is_file());
    assert!(!broker.data_dir.join("__cluster_metadata-0").exists());
    broker.restart();
    let log = broker.log();
    let this_start = &log[log.rfind("=== fjord-test: start").unwrap_or(0)..];
    assert!(
        !this_start.contains("formatted a new cluster"),
        "a restart formatted a new cluster:\n{this_start}"
    );
    let consumed: usize = consume_all(&broker.bootstrap, "keep")
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(consumed, 20);
}

#[test]
fn internal_topics_cannot_be_deleted_grown_truncated_or_reconfigured() {
    let broker = Broker::start_with(&[("offsets.topic.num.partitions", "3")]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    // A FindCoordinator creates __consumer_offsets, as a consumer group's first use does.
    wait_until(CLIENT_TIMEOUT, "__consumer_offsets is created", || {
        let r: FindCoordinatorResponse = conn.request(
            ApiKey::FindCoordinator,
            1,
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
        );
        r.error_code == 0
    });
    wait_for_partitions(&broker.bootstrap, "__consumer_offsets", 3);

    let deleted = delete_topics(&mut conn, &["__consumer_offsets"]);
    assert_eq!(
        deleted.responses[0].error_code, INVALID_REQUEST,
        "{deleted:?}"
    );

    let grown: CreatePartitionsResponse = conn.request(
        ApiKey::CreatePartitions,
        1,
        &CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(name("__consumer_offsets"))
                .with_count(10)]),
    );
    assert_eq!(grown.results[0].error_code, INVALID_REQUEST, "{grown:?}");

    let truncated: DeleteRecordsResponse = conn.request(
        ApiKey::DeleteRecords,
        1,
        &DeleteRecordsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(name("__consumer_offsets"))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(-1)])]),
    );
    assert_eq!(
        truncated.topics[0].partitions[0].error_code, INVALID_TOPIC_EXCEPTION,
        "{truncated:?}"
    );

    let altered: AlterConfigsResponse = conn.request(
        ApiKey::AlterConfigs,
        1,
        &AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("__consumer_offsets"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_static_str("cleanup.policy"))
                .with_value(Some(StrBytes::from_static_str("delete")))])]),
    );
    assert_eq!(
        altered.responses[0].error_code, INVALID_REQUEST,
        "{altered:?}"
    );

    let incremental: IncrementalAlterConfigsResponse = conn.request(
        ApiKey::IncrementalAlterConfigs,
        0,
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            IncrementalResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("__consumer_offsets"))
                .with_configs(vec![IncrementalConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_static_str("1")))]),
        ]),
    );
    assert_eq!(
        incremental.responses[0].error_code, INVALID_REQUEST,
        "{incremental:?}"
    );

    // Still there, whole, with its own configuration.
    wait_for_partitions(&broker.bootstrap, "__consumer_offsets", 3);
    assert!(broker.data_dir.join("__consumer_offsets-2").is_dir());
}
