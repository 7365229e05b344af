//! Produce semantics on the wire: acks, per-partition errors, batch limits.

use fjord_tests::{record_batch, Broker, RawConn};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

fn produce(acks: i16, topic: &str, partition: i32, records: bytes::Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

fn partition_result(resp: &ProduceResponse) -> (i16, i64) {
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[test]
fn acks_zero_gets_no_response_and_still_appends() {
    let broker = Broker::start();
    broker.create_topic("fire", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    conn.send_request(ApiKey::Produce, 9, &produce(0, "fire", 0, record_batch(3)));
    // The next frame on the connection answers the next request, not the produce.
    let resp: kafka_protocol::messages::ApiVersionsResponse =
        conn.request(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
    let ack: ProduceResponse =
        conn.request(ApiKey::Produce, 9, &produce(1, "fire", 0, record_batch(2)));
    assert_eq!(
        partition_result(&ack),
        (0, 3),
        "the acks=0 batch took offsets 0..2"
    );
}

#[test]
fn acks_all_needs_min_insync_replicas() {
    let broker = Broker::start();
    broker.create_topic("strict", 1, &[("min.insync.replicas", "2")]);
    broker.create_topic("relaxed", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let refused: ProduceResponse = conn.request(
        ApiKey::Produce,
        9,
        &produce(-1, "strict", 0, record_batch(1)),
    );
    assert_eq!(
        partition_result(&refused).0,
        19,
        "NOT_ENOUGH_REPLICAS: one broker cannot give two in-sync replicas"
    );
    let leader_only: ProduceResponse = conn.request(
        ApiKey::Produce,
        9,
        &produce(1, "strict", 0, record_batch(1)),
    );
    assert_eq!(
        partition_result(&leader_only),
        (0, 0),
        "acks=1 does not need the ISR"
    );
    let all: ProduceResponse = conn.request(
        ApiKey::Produce,
        9,
        &produce(-1, "relaxed", 0, record_batch(1)),
    );
    assert_eq!(partition_result(&all), (0, 0));
}

#[test]
fn bad_acks_unknown_partitions_and_large_batches_get_their_error_codes() {
    let broker = Broker::start();
    broker.create_topic("limits", 1, &[("max.message.bytes", "200")]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let bad_acks: ProduceResponse = conn.request(
        ApiKey::Produce,
        9,
        &produce(2, "limits", 0, record_batch(1)),
    );
    assert_eq!(partition_result(&bad_acks).0, 21, "INVALID_REQUIRED_ACKS");
    let no_partition: ProduceResponse = conn.request(
        ApiKey::Produce,
        9,
        &produce(1, "limits", 7, record_batch(1)),
    );
    assert_eq!(
        partition_result(&no_partition).0,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    let too_large: ProduceResponse = conn.request(
        ApiKey::Produce,
        9,
        &produce(1, "limits", 0, record_batch(20)),
    );
    assert_eq!(partition_result(&too_large).0, 10, "MESSAGE_TOO_LARGE");
    let mut two = bytes::BytesMut::from(&record_batch(1)[..]);
    two.extend_from_slice(&record_batch(1));
    let two_batches: ProduceResponse =
        conn.request(ApiKey::Produce, 9, &produce(1, "limits", 0, two.freeze()));
    assert_eq!(
        partition_result(&two_batches).0,
        87,
        "INVALID_RECORD: one batch per partition"
    );
    let fits: ProduceResponse = conn.request(
        ApiKey::Produce,
        9,
        &produce(1, "limits", 0, record_batch(1)),
    );
    assert_eq!(
        partition_result(&fits),
        (0, 0),
        "nothing refused was appended"
    );
}
