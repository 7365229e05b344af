//! The admin client against an in-process stand-in broker: negotiation, fallbacks, error
//! mapping and transport limits, without depending on the real broker's progress.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use fjord_client::kafka_protocol::messages::{ApiKey, MetadataRequest};
use fjord_client::{AdminClient, ClientConfig, ClientError, ConfigSource, Connection, NewTopic};
use support::mock::{MockBroker, Quirk};

fn new_topic(name: &str, partitions: i32) -> NewTopic {
    NewTopic {
        name: name.into(),
        partitions,
        replication_factor: 1,
        ..NewTopic::default()
    }
}

#[tokio::test]
async fn topics_are_created_described_listed_and_deleted() {
    let addr = MockBroker::modern().start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();

    let mut orders = new_topic("orders", 0);
    orders.assignment = Some(vec![vec![1, 2], vec![2, 1], vec![1, 2]]);
    orders.configs = BTreeMap::from([("retention.ms".into(), "60000".into())]);
    let id = admin.create_topic(&orders, false).await.unwrap();
    assert!(!id.is_nil());

    let info = admin.describe_topic("orders").await.unwrap().unwrap();
    assert_eq!(info.topic_id, id);
    let replicas: Vec<Vec<i32>> = info.partitions.iter().map(|p| p.replicas.clone()).collect();
    assert_eq!(replicas, vec![vec![1, 2], vec![2, 1], vec![1, 2]]);
    assert_eq!(info.partitions[1].leader, 2);

    admin
        .create_topic(&new_topic("audit", 1), false)
        .await
        .unwrap();
    let names: Vec<String> = admin
        .list_topics()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["audit", "orders"]);

    admin.delete_topic("orders").await.unwrap();
    assert_eq!(admin.describe_topic("orders").await.unwrap(), None);
}

#[tokio::test]
async fn creating_an_existing_topic_reports_kafkas_error_name() {
    let addr = MockBroker::modern().start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();
    admin
        .create_topic(&new_topic("orders", 1), false)
        .await
        .unwrap();
    let err = admin
        .create_topic(&new_topic("orders", 1), false)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "TOPIC_ALREADY_EXISTS (36): Topic 'orders' already exists."
    );
    assert!(matches!(
        err,
        ClientError::Kafka {
            api: "CreateTopics",
            code: 36,
            ..
        }
    ));
}

#[tokio::test]
async fn validate_only_creates_nothing() {
    let addr = MockBroker::modern().start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();
    let id = admin
        .create_topic(&new_topic("dry", 3), true)
        .await
        .unwrap();
    assert!(id.is_nil());
    assert_eq!(admin.describe_topic("dry").await.unwrap(), None);
}

#[tokio::test]
async fn deleting_a_missing_topic_is_unknown_topic_or_partition() {
    let addr = MockBroker::modern().start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();
    let err = admin.delete_topic("ghost").await.unwrap_err();
    assert_eq!(err.kafka_code(), Some(3), "{err}");
}

#[tokio::test]
async fn topic_configs_report_their_source() {
    let addr = MockBroker::modern().start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();
    let mut topic = new_topic("orders", 1);
    topic.configs = BTreeMap::from([("cleanup.policy".into(), "compact".into())]);
    admin.create_topic(&topic, false).await.unwrap();
    let configs = admin.describe_topic_configs("orders").await.unwrap();
    let summary: Vec<(&str, Option<&str>, ConfigSource)> = configs
        .iter()
        .map(|c| (c.name.as_str(), c.value.as_deref(), c.source))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "cleanup.policy",
                Some("compact"),
                ConfigSource::DynamicTopic
            ),
            ("segment.bytes", Some("1073741824"), ConfigSource::Default),
        ]
    );
    let err = admin.describe_topic_configs("ghost").await.unwrap_err();
    assert_eq!(err.kafka_code(), Some(3));
}

#[tokio::test]
async fn each_api_is_sent_at_the_highest_version_both_sides_speak() {
    let mut broker = MockBroker::modern();
    broker.advertised = vec![
        (ApiKey::ApiVersions, 0, 3),
        (ApiKey::Metadata, 0, 9),
        (ApiKey::CreateTopics, 2, 5),
        (ApiKey::DeleteTopics, 1, 4),
    ];
    let seen = broker.seen.clone();
    let addr = broker.start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();
    admin.create_topic(&new_topic("t", 1), false).await.unwrap();
    admin.delete_topic("t").await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let api_versions = ApiKey::ApiVersions as i16;
    // ApiVersions v4 is refused with a v0 answer, then retried at the broker's highest (3).
    assert_eq!(&seen[..2], &[(api_versions, 4), (api_versions, 3)]);
    // CreateTopics v5 has no topic id, so the id is read back with Metadata v9.
    assert_eq!(
        &seen[2..],
        &[
            (ApiKey::CreateTopics as i16, 5),
            (ApiKey::Metadata as i16, 9),
            (ApiKey::DeleteTopics as i16, 4),
        ]
    );
}

#[tokio::test]
async fn describe_cluster_falls_back_to_metadata() {
    let mut broker = MockBroker::modern();
    broker
        .advertised
        .retain(|(k, _, _)| *k != ApiKey::DescribeCluster);
    let seen = broker.seen.clone();
    let addr = broker.start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();
    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.cluster_id, "mock-cluster");
    assert_eq!(cluster.controller_id, 1);
    assert_eq!(cluster.brokers.len(), 1);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|(k, _)| *k == ApiKey::Metadata as i16));
}

#[tokio::test]
async fn describe_cluster_uses_describe_cluster_when_served() {
    let addr = MockBroker::modern().start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();
    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers[0].rack.as_deref(), Some("zone-a"));
    assert_eq!(
        (cluster.brokers[0].host.as_str(), cluster.brokers[0].port),
        ("mock", 9092)
    );
}

#[tokio::test]
async fn an_api_the_broker_lacks_fails_with_unsupported_version() {
    let mut broker = MockBroker::modern();
    broker
        .advertised
        .retain(|(k, _, _)| *k != ApiKey::IncrementalAlterConfigs);
    let addr = broker.start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();
    let set = BTreeMap::from([("retention.ms".to_owned(), "1".to_owned())]);
    let err = admin.alter_topic_configs("t", &set, &[]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "UNSUPPORTED_VERSION (35): the broker does not serve IncrementalAlterConfigs"
    );
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let mut broker = MockBroker::modern();
    broker.quirk = Quirk::HugeFrame(200 * 1024 * 1024);
    let addr = broker.start().await;
    let admin = AdminClient::connect(&addr).await.unwrap();
    let err = admin.describe_topic("t").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Protocol(m) if m.contains("exceeds the limit")),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_broker_times_out() {
    let mut broker = MockBroker::modern();
    broker.quirk = Quirk::Silent;
    let addr = broker.start().await;
    let config = ClientConfig {
        request_timeout: Duration::from_millis(200),
        ..ClientConfig::default()
    };
    let admin = AdminClient::connect_with(&addr, config).await.unwrap();
    let err = admin.list_topics().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
}

#[tokio::test]
async fn later_bootstrap_addresses_are_tried_when_the_first_is_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let addr = MockBroker::modern().start().await;
    let admin = AdminClient::connect(&format!("{closed_addr},{addr}"))
        .await
        .unwrap();
    assert!(admin.list_topics().await.unwrap().is_empty());
}

#[tokio::test]
async fn connections_send_arbitrary_requests() {
    let addr = MockBroker::modern().start().await;
    let mut conn = Connection::connect(&addr, &ClientConfig::default())
        .await
        .unwrap();
    let version = conn.negotiate::<MetadataRequest>().unwrap();
    assert_eq!(version, 13);
    let response = conn
        .send(MetadataRequest::default().with_topics(None), version)
        .await
        .unwrap();
    assert_eq!(response.controller_id.0, 1);
}
