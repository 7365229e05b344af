//! What a Fetch may cost: the broker's `fetch.max.bytes` caps every response (the first batch
//! excepted, KIP-74), and a long-poll woken by many appends returns each batch exactly once and
//! leaves nothing parked behind.

use bytes::Bytes;
use fjord_tests::{
    assert_fetched_as_produced, big_batch, gauge, record_batch, wait_until, Broker, RawConn,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;

fn fetch(topic: &str, max_wait_ms: i32, min_bytes: i32, max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(max_bytes)])])
}

fn produce(conn: &mut RawConn, topic: &str, records: Bytes) {
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let resp: ProduceResponse = conn.request(ApiKey::Produce, 9, &req);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
}

/// `(base offset, last offset)` of each batch, walking the v2 headers; asserts the bytes are
/// whole batches.
fn batches(records: &[u8]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let base = i64::from_be_bytes(records[at..at + 8].try_into().unwrap());
        let len = i32::from_be_bytes(records[at + 8..at + 12].try_into().unwrap()) as usize;
        let delta = i32::from_be_bytes(records[at + 23..at + 27].try_into().unwrap());
        out.push((base, base + i64::from(delta)));
        at += 12 + len;
    }
    assert_eq!(at, records.len(), "the response holds whole batches");
    out
}

fn records(resp: &FetchResponse) -> Bytes {
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.records.clone().unwrap_or_default()
}

#[test]
fn fetch_max_bytes_caps_a_fetch_that_asks_for_everything() {
    const CAP: usize = 4096;
    let broker = Broker::start_with(&[("fetch.max.bytes", "4096")]);
    broker.create_topic("big", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    for _ in 0..100 {
        produce(&mut conn, "big", record_batch(5));
    }
    let resp: FetchResponse = conn.request(ApiKey::Fetch, 12, &fetch("big", 0, 1, i32::MAX));
    let got = records(&resp);
    assert!(
        !got.is_empty() && got.len() <= CAP,
        "{} bytes returned, fetch.max.bytes is {CAP}",
        got.len()
    );
    let b = batches(&got);
    assert_eq!(b[0].0, 0);
    assert!(b.len() < 100, "not the whole partition");
}

#[test]
fn a_first_batch_larger_than_fetch_max_bytes_is_returned_alone() {
    let broker = Broker::start_with(&[("fetch.max.bytes", "4096")]);
    broker.create_topic("huge", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let first = big_batch(10_000);
    produce(&mut conn, "huge", first.clone());
    for _ in 0..10 {
        produce(&mut conn, "huge", record_batch(2));
    }
    let resp: FetchResponse = conn.request(ApiKey::Fetch, 12, &fetch("huge", 0, 1, i32::MAX));
    let got = records(&resp);
    assert_eq!(batches(&got), vec![(0, 0)], "exactly the first batch");
    assert_eq!(got.len(), first.len());
}

/// `fjord_fetch_purgatory_size` from `/metrics`.
fn parked_fetches(metrics_addr: &str) -> f64 {
    gauge(metrics_addr, "fjord_fetch_purgatory_size")
}

#[test]
fn a_long_poll_woken_by_many_small_appends_returns_each_batch_once() {
    const MIN_BYTES: i32 = 6_000;
    let broker = Broker::start();
    broker.create_topic("trickle", 1, &[]);
    let bootstrap = broker.bootstrap.clone();
    let waiter = std::thread::spawn(move || {
        let mut conn = RawConn::connect(&bootstrap);
        let resp: FetchResponse = conn.request(
            ApiKey::Fetch,
            12,
            &fetch("trickle", 25_000, MIN_BYTES, 1 << 20),
        );
        resp
    });
    wait_until(Duration::from_secs(30), "the fetch is parked", || {
        parked_fetches(&broker.metrics_addr) >= 1.0
    });
    let mut conn = RawConn::connect(&broker.bootstrap);
    let one = record_batch(1).len();
    // Exactly enough to satisfy min_bytes with the last append, so nothing appended after
    // the fetch completes could clear a registration it left behind.
    let appends = (MIN_BYTES as usize).div_ceil(one);
    for _ in 0..appends {
        produce(&mut conn, "trickle", record_batch(1));
    }
    let resp = waiter.join().expect("fetch thread");
    let got = records(&resp);
    assert_eq!(got.len(), appends * one, "everything appended");
    let offsets: Vec<i64> = batches(&got).into_iter().map(|(base, _)| base).collect();
    let expected: Vec<i64> = (0..offsets.len() as i64).collect();
    assert_eq!(offsets, expected, "every batch once, in order, no gaps");
    wait_until(
        Duration::from_secs(10),
        "the finished fetch is no longer parked",
        || parked_fetches(&broker.metrics_addr) == 0.0,
    );
}

/// A Fetch of tens of MiB is streamed from the log: the broker never holds more than a small
/// chunk of it in memory (`fjord_response_buffer_bytes_max`), and the bytes arrive exactly as
/// produced, in both the flexible (v12) and the older (v11) encoding of the records field.
#[test]
fn a_fetch_of_many_mib_is_streamed_from_the_log_not_built_in_memory() {
    const BATCHES: usize = 48;
    let broker = Broker::start();
    broker.create_topic("stream", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let sent: Vec<Bytes> = (0..BATCHES).map(|_| big_batch(512 * 1024)).collect();
    for b in &sent {
        produce(&mut conn, "stream", b.clone());
    }
    let total: usize = sent.iter().map(Bytes::len).sum();
    assert!(total > 24 << 20);
    for version in [12, 11] {
        let req = fetch("stream", 0, 1, 64 << 20);
        let resp: FetchResponse = conn.request(ApiKey::Fetch, version, &req);
        assert_fetched_as_produced(&records(&resp), &sent, &format!("v{version}"));
    }
    let peak = gauge(&broker.metrics_addr, "fjord_response_buffer_bytes_max");
    assert!(
        peak > 0.0 && peak < (2 << 20) as f64,
        "response bytes held at once peaked at {peak}; the fetches returned {total} bytes each"
    );
}
