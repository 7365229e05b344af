//! The admin client against a real `fjord-broker` process (single node, 127.0.0.1, port 0).
//!
//! Binary: `$FJORD_BROKER_BIN`, else `$CARGO_TARGET_DIR/debug/fjord-broker`, else
//! `<workspace>/target/debug/fjord-broker`. Build it first (`cargo build -p fjord-broker`, or any
//! `cargo build`/`cargo test --workspace`); without it these tests fail and say so.

mod support;

use std::collections::BTreeMap;

use fjord_client::kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeClusterRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest, MetadataRequest,
};
use fjord_client::{AdminClient, ClientConfig, ClientError, ConfigSource, Connection, NewTopic};
use fjord_tests::Broker;

async fn admin() -> (Broker, AdminClient) {
    let broker = Broker::start();
    let admin = AdminClient::connect(&broker.bootstrap).await.unwrap();
    (broker, admin)
}

fn topic(name: &str, partitions: i32) -> NewTopic {
    NewTopic {
        name: name.into(),
        partitions,
        replication_factor: 1,
        ..NewTopic::default()
    }
}

#[tokio::test]
async fn the_broker_serves_every_admin_api_the_client_uses() {
    let broker = Broker::start();
    let conn = Connection::connect(&broker.bootstrap, &ClientConfig::default())
        .await
        .unwrap();
    let versions = [
        ("Metadata", conn.negotiate::<MetadataRequest>()),
        (
            "DescribeCluster",
            conn.negotiate::<DescribeClusterRequest>(),
        ),
        ("CreateTopics", conn.negotiate::<CreateTopicsRequest>()),
        (
            "CreatePartitions",
            conn.negotiate::<CreatePartitionsRequest>(),
        ),
        ("DeleteTopics", conn.negotiate::<DeleteTopicsRequest>()),
        (
            "DescribeConfigs",
            conn.negotiate::<DescribeConfigsRequest>(),
        ),
        (
            "IncrementalAlterConfigs",
            conn.negotiate::<IncrementalAlterConfigsRequest>(),
        ),
    ];
    for (api, version) in versions {
        assert!(version.is_ok(), "{api}: {version:?}");
    }
}

#[tokio::test]
async fn describe_cluster_lists_the_single_broker_as_controller() {
    let (broker, admin) = admin().await;
    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers.len(), 1, "{cluster:?}");
    let me = &cluster.brokers[0];
    assert_eq!(format!("{}:{}", me.host, me.port), broker.bootstrap);
    assert_eq!(cluster.controller_id, me.node_id);
    assert!(!cluster.cluster_id.is_empty());
}

#[tokio::test]
async fn a_created_topic_is_described_listed_and_deleted() {
    let (_broker, admin) = admin().await;
    let id = admin
        .create_topic(&topic("orders", 3), false)
        .await
        .unwrap();
    assert!(!id.is_nil());

    let info = admin
        .describe_topic("orders")
        .await
        .unwrap()
        .expect("topic exists");
    assert_eq!(info.topic_id, id);
    assert_eq!(
        info.partitions
            .iter()
            .map(|p| p.partition)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(info.partitions.iter().all(|p| p.replicas.len() == 1));

    let listed = admin.list_topics().await.unwrap();
    assert!(listed
        .iter()
        .any(|t| t.name == "orders" && t.topic_id == id));

    admin.delete_topic("orders").await.unwrap();
    assert_eq!(admin.describe_topic("orders").await.unwrap(), None);
}

#[tokio::test]
async fn an_explicit_assignment_is_used_as_given() {
    let (_broker, admin) = admin().await;
    let node = admin.describe_cluster().await.unwrap().brokers[0].node_id;
    let mut t = topic("assigned", 0);
    t.replication_factor = 0;
    t.assignment = Some(vec![vec![node], vec![node]]);
    admin.create_topic(&t, false).await.unwrap();
    let info = admin.describe_topic("assigned").await.unwrap().unwrap();
    let replicas: Vec<Vec<i32>> = info.partitions.iter().map(|p| p.replicas.clone()).collect();
    assert_eq!(replicas, vec![vec![node], vec![node]]);
}

#[tokio::test]
async fn creating_a_topic_twice_is_topic_already_exists() {
    let (_broker, admin) = admin().await;
    admin.create_topic(&topic("twice", 1), false).await.unwrap();
    let err = admin
        .create_topic(&topic("twice", 1), false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Kafka {
                code: 36,
                name: "TOPIC_ALREADY_EXISTS",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn validate_only_leaves_no_topic_behind() {
    let (_broker, admin) = admin().await;
    admin
        .create_topic(&topic("dry-run", 2), true)
        .await
        .unwrap();
    assert_eq!(admin.describe_topic("dry-run").await.unwrap(), None);
}

#[tokio::test]
async fn describing_a_missing_topic_does_not_create_it() {
    let (_broker, admin) = admin().await;
    assert_eq!(admin.describe_topic("nobody").await.unwrap(), None);
    let listed = admin.list_topics().await.unwrap();
    assert!(listed.iter().all(|t| t.name != "nobody"));
}

#[tokio::test]
async fn partitions_can_be_raised_but_not_lowered() {
    let (_broker, admin) = admin().await;
    admin.create_topic(&topic("grow", 1), false).await.unwrap();
    admin.create_partitions("grow", 4, None).await.unwrap();
    let info = admin.describe_topic("grow").await.unwrap().unwrap();
    assert_eq!(info.partitions.len(), 4);
    let err = admin.create_partitions("grow", 2, None).await.unwrap_err();
    assert_eq!(err.kafka_code(), Some(37), "{err}"); // INVALID_PARTITIONS
}

#[tokio::test]
async fn topic_configs_are_set_described_and_reset() {
    let (_broker, admin) = admin().await;
    let mut t = topic("configured", 1);
    t.configs = BTreeMap::from([("retention.ms".into(), "3600000".into())]);
    admin.create_topic(&t, false).await.unwrap();

    let value = |configs: &[fjord_client::ConfigEntry], name: &str| {
        configs
            .iter()
            .find(|c| c.name == name)
            .map(|c| (c.value.clone(), c.source))
    };
    let configs = admin.describe_topic_configs("configured").await.unwrap();
    assert_eq!(
        value(&configs, "retention.ms"),
        Some((Some("3600000".into()), ConfigSource::DynamicTopic))
    );

    let set = BTreeMap::from([("cleanup.policy".to_owned(), "compact".to_owned())]);
    admin
        .alter_topic_configs("configured", &set, &["retention.ms".to_owned()])
        .await
        .unwrap();
    let configs = admin.describe_topic_configs("configured").await.unwrap();
    assert_eq!(
        value(&configs, "cleanup.policy"),
        Some((Some("compact".into()), ConfigSource::DynamicTopic))
    );
    let retention = value(&configs, "retention.ms");
    assert!(
        retention
            .as_ref()
            .is_none_or(|(_, source)| *source != ConfigSource::DynamicTopic),
        "retention.ms still set on the topic: {retention:?}"
    );
}

#[tokio::test]
async fn broker_configs_are_set_described_and_reset() {
    let (_broker, admin) = admin().await;
    let id = admin.describe_cluster().await.unwrap().brokers[0].node_id;
    let rate = |configs: &[fjord_client::ConfigEntry]| {
        configs
            .iter()
            .find(|c| c.name == "leader.replication.throttled.rate")
            .map(|c| (c.value.clone(), c.source))
    };
    let set = BTreeMap::from([(
        "leader.replication.throttled.rate".to_owned(),
        "1000".to_owned(),
    )]);
    admin.alter_broker_configs(id, &set, &[]).await.unwrap();
    let configs = admin.describe_broker_configs(id).await.unwrap();
    assert_eq!(
        rate(&configs),
        Some((Some("1000".into()), ConfigSource::DynamicBroker))
    );
    admin
        .alter_broker_configs(
            id,
            &BTreeMap::new(),
            &["leader.replication.throttled.rate".into()],
        )
        .await
        .unwrap();
    let configs = admin.describe_broker_configs(id).await.unwrap();
    assert_eq!(
        rate(&configs).map(|(_, source)| source),
        Some(ConfigSource::Default)
    );
    let unknown = admin.describe_broker_configs(id + 1).await.unwrap_err();
    assert_eq!(
        unknown.kafka_code(),
        Some(8),
        "BROKER_NOT_AVAILABLE: {unknown}"
    );
}

#[tokio::test]
async fn deleting_a_missing_topic_is_unknown_topic_or_partition() {
    let (_broker, admin) = admin().await;
    let err = admin.delete_topic("never-was").await.unwrap_err();
    assert_eq!(err.kafka_code(), Some(3), "{err}");
}
