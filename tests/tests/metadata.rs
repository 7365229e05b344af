//! Metadata: auto-creation only when the broker allows it and the request asks for it,
//! topic ids, and the broker list clients bootstrap from.

use fjord_tests::{Broker, RawConn};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

fn metadata(
    broker: &Broker,
    version: i16,
    topic: &str,
    allow_auto_create: bool,
) -> MetadataResponse {
    let mut conn = RawConn::connect(&broker.bootstrap);
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    conn.request(
        ApiKey::Metadata,
        version,
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name))
            ]))
            .with_allow_auto_topic_creation(allow_auto_create),
    )
}

#[test]
fn unknown_topics_are_created_only_when_the_request_allows_it() {
    let broker = Broker::start_with(&[("num.partitions", "3")]);
    let refused = metadata(&broker, 12, "lazy", false);
    assert_eq!(
        refused.topics[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    let refused_again = metadata(&broker, 12, "lazy", false);
    assert_eq!(
        refused_again.topics[0].error_code, 3,
        "the refused request created nothing"
    );

    let created = metadata(&broker, 12, "lazy", true);
    let t = &created.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.partitions.len(), 3, "num.partitions");
    assert!(!t.topic_id.is_nil(), "v10+ carries the topic id");
    assert!(t
        .partitions
        .iter()
        .all(|p| p.leader_id.0 == 0 && p.isr_nodes.len() == 1));
    assert_eq!(created.brokers.len(), 1);
    assert_eq!(
        format!("{}:{}", created.brokers[0].host, created.brokers[0].port),
        broker.bootstrap
    );
    assert_eq!(created.controller_id.0, 0);
}

#[test]
fn auto_creation_can_be_turned_off_for_the_broker() {
    let broker = Broker::start_with(&[("auto.create.topics.enable", "false")]);
    assert_eq!(metadata(&broker, 12, "nope", true).topics[0].error_code, 3);
    // Before v4 requests cannot opt out, and the broker setting still decides.
    assert_eq!(metadata(&broker, 3, "nope", true).topics[0].error_code, 3);
}

#[test]
fn illegal_topic_names_get_invalid_topic_exception() {
    let broker = Broker::start();
    assert_eq!(
        metadata(&broker, 12, "bad name!", true).topics[0].error_code,
        17
    );
}

#[test]
fn describe_cluster_answers_for_broker_endpoints_only() {
    use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};
    let broker = Broker::start();
    let mut conn = RawConn::connect(&broker.bootstrap);
    let mut describe = |endpoint_type: i8| -> DescribeClusterResponse {
        conn.request(
            ApiKey::DescribeCluster,
            1,
            &DescribeClusterRequest::default().with_endpoint_type(endpoint_type),
        )
    };
    let brokers = describe(1);
    assert_eq!(
        (
            brokers.error_code,
            brokers.endpoint_type,
            brokers.brokers.len()
        ),
        (0, 1, 1)
    );
    // Kafka's answers: controllers asked of a broker, and a type nobody knows.
    assert_eq!(describe(2).error_code, 114, "MISMATCHED_ENDPOINT_TYPE");
    assert_eq!(describe(7).error_code, 115, "UNSUPPORTED_ENDPOINT_TYPE");
}
