//! Fetch semantics observed on the wire: long-polling, min_bytes, and fetch sessions
//! declined the way KIP-227 allows.

use fjord_tests::{produce_n, Broker, RawConn};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::time::{Duration, Instant};

fn fetch(topic: &str, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(50 << 20)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

fn records_len(resp: &FetchResponse) -> usize {
    resp.responses[0].partitions[0]
        .records
        .as_ref()
        .map_or(0, |r| r.len())
}

#[test]
fn a_long_poll_answers_when_data_arrives_not_at_its_timeout() {
    let broker = Broker::start();
    broker.create_topic("poll", 1, &[]);
    let bootstrap = broker.bootstrap.clone();
    let waiter = std::thread::spawn(move || {
        let mut conn = RawConn::connect(&bootstrap);
        let started = Instant::now();
        let resp: FetchResponse = conn.request(ApiKey::Fetch, 12, &fetch("poll", 0, 25_000, 1));
        (resp, started.elapsed())
    });
    // Let the fetch park first; it must still see data that arrives while it waits.
    std::thread::sleep(Duration::from_millis(300));
    produce_n(&broker.bootstrap, "poll", 1, 1);
    let (resp, waited) = waiter.join().expect("fetch thread");
    assert!(
        records_len(&resp) > 0,
        "the fetch returned the produced batch"
    );
    assert_eq!(resp.responses[0].partitions[0].high_watermark, 1);
    assert!(
        waited < Duration::from_secs(20),
        "answered on arrival, not after max_wait_ms ({waited:?})"
    );
}

#[test]
fn min_bytes_not_reached_waits_for_max_wait_then_returns_what_there_is() {
    let broker = Broker::start();
    broker.create_topic("small", 1, &[]);
    produce_n(&broker.bootstrap, "small", 1, 1);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let started = Instant::now();
    let resp: FetchResponse = conn.request(ApiKey::Fetch, 12, &fetch("small", 0, 500, 10 << 20));
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "waited for min_bytes until max_wait_ms"
    );
    assert!(records_len(&resp) > 0, "then returned the data it had");
}

#[test]
fn fetch_sessions_are_declined_as_kip_227_allows() {
    let broker = Broker::start();
    broker.create_topic("sess", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    // Asking for a new session (epoch 0) gets a full response and session id 0: no session.
    let open: FetchResponse = conn.request(
        ApiKey::Fetch,
        12,
        &fetch("sess", 0, 0, 0).with_session_epoch(0),
    );
    assert_eq!(open.error_code, 0);
    assert_eq!(open.session_id, 0);
    // An incremental fetch on a session we never created.
    let incremental: FetchResponse = conn.request(
        ApiKey::Fetch,
        12,
        &fetch("sess", 0, 0, 0)
            .with_session_id(1234)
            .with_session_epoch(1),
    );
    assert_eq!(incremental.error_code, 70, "FETCH_SESSION_ID_NOT_FOUND");
    // An epoch without a session id.
    let bad: FetchResponse = conn.request(
        ApiKey::Fetch,
        12,
        &fetch("sess", 0, 0, 0).with_session_epoch(3),
    );
    assert_eq!(bad.error_code, 71, "INVALID_FETCH_SESSION_EPOCH");
}

#[test]
fn a_fetch_past_the_log_end_is_offset_out_of_range() {
    let broker = Broker::start();
    broker.create_topic("oor", 1, &[]);
    produce_n(&broker.bootstrap, "oor", 5, 1);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let resp: FetchResponse = conn.request(ApiKey::Fetch, 12, &fetch("oor", 99, 0, 0));
    assert_eq!(
        resp.responses[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );
}

#[test]
fn sigterm_lets_an_in_flight_long_poll_finish_with_a_response() {
    let mut broker = Broker::start();
    broker.create_topic("draining", 1, &[]);
    produce_n(&broker.bootstrap, "draining", 2, 1);
    let bootstrap = broker.bootstrap.clone();
    let waiter = std::thread::spawn(move || {
        let mut conn = RawConn::connect(&bootstrap);
        // Parks: min_bytes is more than the partition holds.
        let resp: FetchResponse =
            conn.request(ApiKey::Fetch, 12, &fetch("draining", 0, 2_000, 10 << 20));
        resp
    });
    std::thread::sleep(Duration::from_millis(300));
    broker.stop(); // SIGTERM; asserts a clean exit
    let resp = waiter
        .join()
        .expect("the in-flight fetch got its response, not a reset");
    assert_eq!(resp.responses[0].partitions[0].error_code, 0);
    assert!(records_len(&resp) > 0);
    broker.start_again();
    assert_eq!(
        fjord_tests::watermarks(&broker.bootstrap, "draining")[&0],
        (0, 2)
    );
}
