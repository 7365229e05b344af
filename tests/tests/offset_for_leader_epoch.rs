//! OffsetForLeaderEpoch (API 23, KIP-101/KIP-320) against a three-node cluster: exact answers
//! across two leader epochs at every advertised version, Kafka's epoch and leadership errors,
//! librdkafka checking its position with it after a leader change, and Fetch v12's
//! `last_fetched_epoch` answered with `diverging_epoch` (KIP-320).

use fjord_tests::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::EpochEndOffset;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse,
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::time::{Duration, Instant};

const TOPIC: &str = "epochs";
const NONE: i16 = 0;
const NOT_LEADER_OR_FOLLOWER: i16 = ResponseError::NotLeaderOrFollower.code();
const UNKNOWN_TOPIC_OR_PARTITION: i16 = ResponseError::UnknownTopicOrPartition.code();
const FENCED_LEADER_EPOCH: i16 = ResponseError::FencedLeaderEpoch.code();
const UNKNOWN_LEADER_EPOCH: i16 = ResponseError::UnknownLeaderEpoch.code();

/// One partition's OffsetForLeaderEpoch answer from `bootstrap`: (error, epoch, end offset).
fn ask(
    bootstrap: &str,
    version: i16,
    topic: &str,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> (i16, i32, i64) {
    let mut conn = RawConn::connect(bootstrap);
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)])]);
    let resp: OffsetForLeaderEpochResponse =
        conn.request(ApiKey::OffsetForLeaderEpoch, version, &req);
    let p: &EpochEndOffset = &resp.topics[0].partitions[0];
    assert_eq!(p.partition, 0);
    (p.error_code, p.leader_epoch, p.end_offset)
}

/// A consumer's Fetch v12 of partition 0 from `fetch_offset`, naming `last_fetched_epoch`:
/// (error, diverging epoch, its end offset, record bytes).
fn fetch_v12(
    bootstrap: &str,
    current_leader_epoch: i32,
    fetch_offset: i64,
    last_fetched_epoch: i32,
) -> (i16, i32, i64, usize) {
    let mut conn = RawConn::connect(bootstrap);
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(TOPIC.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_fetch_offset(fetch_offset)
                .with_last_fetched_epoch(last_fetched_epoch)
                .with_partition_max_bytes(1 << 20)])]);
    let resp: FetchResponse = conn.request(ApiKey::Fetch, 12, &req);
    let p = &resp.responses[0].partitions[0];
    let bytes = p.records.as_ref().map_or(0, |r| r.len());
    (
        p.error_code,
        p.diverging_epoch.epoch,
        p.diverging_epoch.end_offset,
        bytes,
    )
}

/// ListOffsets v7 of partition 0 for `timestamp`: (offset, leader epoch).
fn list_offset(bootstrap: &str, timestamp: i64) -> (i64, i32) {
    let mut conn = RawConn::connect(bootstrap);
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(TOPIC.to_string())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp)])]);
    let resp: ListOffsetsResponse = conn.request(ApiKey::ListOffsets, 7, &req);
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    (p.offset, p.leader_epoch)
}

fn advertised(bootstrap: &str) -> Option<(i16, i16)> {
    let mut conn = RawConn::connect(bootstrap);
    let resp: ApiVersionsResponse =
        conn.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    resp.api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::OffsetForLeaderEpoch as i16)
        .map(|k| (k.min_version, k.max_version))
}

/// Polls `consumer` until it has `n` records; returns their (offset, payload).
fn poll_n(consumer: &BaseConsumer, n: usize) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "consumed only {} of {n}",
            out.len()
        );
        // A leader change surfaces as retriable errors meanwhile; librdkafka recovers.
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push((m.offset(), m.payload().unwrap_or_default().to_vec()));
        }
    }
    out
}

#[test]
fn offset_for_leader_epoch_answers_where_each_epoch_ends_with_kafkas_errors() {
    let mut cluster = Cluster::start(3);
    cluster.wait_for_brokers(0, &[0, 1, 2], REPLICATION_WAIT);
    assert_eq!(advertised(&cluster.nodes[0].bootstrap), Some((2, 4)));
    // Two replicas, so that only clients ask the second leader (no third replica fetching).
    create_replicated(&cluster.nodes[0].bootstrap, TOPIC, 2, &[0, 1]);
    let (first, e0, _) = cluster.wait_for_partition(2, TOPIC, "both in sync", |l, _, isr| {
        l >= 0 && isr.len() == 2
    });
    let first = first as usize;
    let second = 1 - first;
    let msgs = numbered_messages(TOPIC, 12, 1);
    produce_ok(
        &producer_config(&cluster.nodes[first].bootstrap, "none"),
        TOPIC,
        &msgs[..5],
    );
    let leader = cluster.nodes[first].bootstrap.clone();
    for v in 2..=4 {
        assert_eq!(
            ask(&leader, v, TOPIC, e0, e0),
            (NONE, e0, 5),
            "v{v}: the current epoch ends at the log end"
        );
    }

    // A consumer positioned inside epoch e0, on the first leader.
    let mut cfg = consumer_config(&cluster.bootstrap());
    cfg.set("topic.metadata.refresh.interval.ms", "500");
    let consumer: BaseConsumer = cfg.create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let mut seen = poll_n(&consumer, 5);

    // Controlled shutdown moves leadership: epoch e1 on the other replica.
    cluster.nodes[first].stop();
    let (_, e1, _) = cluster.wait_for_partition(2, TOPIC, "the other replica leads", |l, e, _| {
        l == second as i32 && e > e0
    });
    let leader = cluster.nodes[second].bootstrap.clone();
    produce_ok(&producer_config(&leader, "none"), TOPIC, &msgs[5..]);
    seen.extend(poll_n(&consumer, 7));
    let want: Vec<(i64, Vec<u8>)> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| (i as i64, m.payload.clone()))
        .collect();
    assert_eq!(
        seen, want,
        "the consumer went on across the leader change, nothing skipped or repeated"
    );
    // Nothing but the consumer asks this leader: its follower is stopped (KIP-320 validation).
    let asked = gauge(
        &cluster.nodes[second].metrics_addr,
        "fjord_requests_total{api=\"OffsetForLeaderEpoch\"}",
    );
    assert!(
        asked >= 1.0,
        "librdkafka validated its position after the leader change"
    );

    for v in 2..=4 {
        let at = |current, epoch| ask(&leader, v, TOPIC, current, epoch);
        assert_eq!(at(e1, e0), (NONE, e0, 5), "v{v}: e0 ends where e1 starts");
        assert_eq!(at(e1, e1), (NONE, e1, 12), "v{v}: e1 is current");
        assert_eq!(at(-1, e1), (NONE, e1, 12), "v{v}: no current epoch given");
        for between in e0 + 1..e1 {
            assert_eq!(
                at(e1, between),
                (NONE, e0, 5),
                "v{v}: epoch {between} never wrote"
            );
        }
        if e0 > 0 {
            assert_eq!(
                at(e1, e0 - 1),
                (NONE, e0 - 1, 0),
                "v{v}: older than every epoch"
            );
        }
        assert_eq!(
            at(e1, e1 + 1),
            (NONE, -1, -1),
            "v{v}: newer than every epoch"
        );
        assert_eq!(at(e1, -1), (NONE, -1, -1), "v{v}: no epoch asked");
        assert_eq!(at(e0, e0).0, FENCED_LEADER_EPOCH, "v{v}");
        assert_eq!(at(e1 + 1, e0).0, UNKNOWN_LEADER_EPOCH, "v{v}");
        assert_eq!(
            ask(&leader, v, "no-such-topic", -1, 0).0,
            UNKNOWN_TOPIC_OR_PARTITION,
            "v{v}"
        );
    }

    // ListOffsets names the epoch that wrote the offset it finds (the current one for the
    // latest offset), as Kafka does.
    assert_eq!(list_offset(&leader, -2), (0, e0), "earliest");
    assert_eq!(list_offset(&leader, -1), (12, e1), "latest");
    assert_eq!(list_offset(&leader, 0), (0, e0), "by timestamp");

    // KIP-320 on Fetch v12: a fetcher whose last batch is from e0 but who asks past e0's end
    // diverges; one inside e0, or naming no epoch, gets records.
    assert_eq!(
        fetch_v12(&leader, e1, 8, e0),
        (NONE, e0, 5, 0),
        "diverges at e0's end"
    );
    assert_eq!(
        fetch_v12(&leader, e1, 8, e1 + 1),
        (NONE, -1, -1, 0),
        "an epoch this leader never had"
    );
    let (error, epoch, end, bytes) = fetch_v12(&leader, e1, 5, e0);
    assert_eq!(
        (error, epoch, end),
        (NONE, -1, -1),
        "e0 ends at 5: no divergence"
    );
    assert!(bytes > 0, "and the records from 5 come back");
    assert!(
        fetch_v12(&leader, e1, 8, -1).3 > 0,
        "no epoch named: no check"
    );

    // The old leader comes back as a follower: it answers NOT_LEADER_OR_FOLLOWER, and having
    // asked the new leader where e0 ends, it keeps its whole log and rejoins the ISR.
    cluster.nodes[first].start_again();
    cluster.wait_for_partition(2, TOPIC, "the old leader rejoined", |l, _, isr| {
        l == second as i32 && isr.len() == 2
    });
    let follower = cluster.nodes[first].bootstrap.clone();
    for v in 2..=4 {
        assert_eq!(
            ask(&follower, v, TOPIC, -1, e0).0,
            NOT_LEADER_OR_FOLLOWER,
            "v{v}"
        );
    }
    assert!(
        !cluster.nodes[first].log().contains("truncated to"),
        "a follower that shares the leader's log cuts nothing:\n{}",
        cluster.nodes[first].log()
    );
}
