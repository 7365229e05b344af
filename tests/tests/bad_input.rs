//! Bad input on raw sockets, while a real rdkafka producer and consumer keep working: each bad
//! request gets a Kafka error code or a disconnect of that one connection; everyone else keeps
//! being served, memory stays bounded and nothing stored is lost.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use fjord_tests::*;
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use rdkafka::{Message, Offset, TopicPartitionList};

const MAX_REQUEST: usize = 1 << 20;
const RSS_LIMIT_KIB: u64 = 500 * 1024;
const DISCONNECT_WITHIN: Duration = Duration::from_secs(15);

/// Failed deliveries and the acknowledged `(partition, offset, payload)`s.
type ProducerOutcome = (usize, Vec<(i32, i64, Vec<u8>)>);
/// Consumer errors and the consumed payloads by `(partition, offset)`.
type ConsumerOutcome = (Vec<String>, BTreeMap<(i32, i64), Vec<u8>>);

/// A real client producing and consuming on `live` in the background.
struct LiveTraffic {
    stop: Arc<AtomicBool>,
    producer: thread::JoinHandle<ProducerOutcome>,
    consumer: thread::JoinHandle<ConsumerOutcome>,
    consumer_done: Arc<AtomicBool>,
    acked_end: Arc<Mutex<Option<BTreeMap<i32, i64>>>>,
}

impl LiveTraffic {
    fn start(bootstrap: &str, topic: &'static str) -> LiveTraffic {
        let stop = Arc::new(AtomicBool::new(false));
        let consumer_done = Arc::new(AtomicBool::new(false));
        let acked_end: Arc<Mutex<Option<BTreeMap<i32, i64>>>> = Arc::new(Mutex::new(None));

        let producer = {
            let stop = stop.clone();
            let mut cfg = producer_config(bootstrap, "lz4");
            cfg.set("linger.ms", "2");
            thread::spawn(move || {
                let (producer, collector) = collecting_producer(&cfg);
                let mut sent = Vec::new();
                let mut i = 0usize;
                // Bounded: at most ~10 minutes' worth, stops when told.
                while !stop.load(Ordering::Relaxed) && i < 2_000_000 {
                    for _ in 0..50 {
                        let m = Outgoing::new((i % 2) as i32, format!("k{i}"), format!("live {i}"));
                        send(&producer, topic, i, &m);
                        sent.push(m.payload);
                        i += 1;
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                producer.flush(CLIENT_TIMEOUT).expect("flush live producer");
                wait_until(CLIENT_TIMEOUT, "live delivery reports", || {
                    collector.count() == sent.len()
                });
                let mut failed = 0;
                let mut acked = Vec::new();
                for d in collector.reports() {
                    match d.result {
                        Ok((p, o)) => acked.push((p, o, sent[d.seq].clone())),
                        Err(e) => {
                            eprintln!("live message {} failed: {e}", d.seq);
                            failed += 1;
                        }
                    }
                }
                (failed, acked)
            })
        };

        let consumer = {
            let done = consumer_done.clone();
            let acked_end = acked_end.clone();
            let consumer: BaseConsumer = consumer_config(bootstrap).create().unwrap();
            thread::spawn(move || {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, 0, Offset::Beginning)
                    .unwrap();
                tpl.add_partition_offset(topic, 1, Offset::Beginning)
                    .unwrap();
                consumer.assign(&tpl).unwrap();
                let mut errors = Vec::new();
                let mut seen = BTreeMap::new();
                let mut next: BTreeMap<i32, i64> = BTreeMap::from([(0, 0), (1, 0)]);
                let deadline = Instant::now() + Duration::from_secs(900);
                loop {
                    if let Some(end) = acked_end.lock().unwrap().as_ref() {
                        if end.iter().all(|(p, e)| next[p] >= *e) {
                            break;
                        }
                    }
                    if Instant::now() > deadline {
                        errors.push(format!("consumer deadline; reached {next:?}"));
                        break;
                    }
                    match consumer.poll(Duration::from_millis(100)) {
                        None => {}
                        Some(Err(e)) => errors.push(e.to_string()),
                        Some(Ok(m)) => {
                            if m.offset() != next[&m.partition()] {
                                errors.push(format!(
                                    "partition {}: offset {} after {}",
                                    m.partition(),
                                    m.offset(),
                                    next[&m.partition()]
                                ));
                            }
                            next.insert(m.partition(), m.offset() + 1);
                            seen.insert(
                                (m.partition(), m.offset()),
                                m.payload().unwrap_or_default().to_vec(),
                            );
                        }
                    }
                }
                done.store(true, Ordering::Relaxed);
                (errors, seen)
            })
        };
        LiveTraffic {
            stop,
            producer,
            consumer,
            consumer_done,
            acked_end,
        }
    }

    /// Stops producing and checks that every acknowledged message was consumed, in order, with
    /// no client error on either side.
    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let (failed, acked) = self.producer.join().expect("live producer thread");
        let mut end = BTreeMap::from([(0, 0), (1, 0)]);
        for (p, o, _) in &acked {
            let e = end.get_mut(p).unwrap();
            *e = (*e).max(o + 1);
        }
        *self.acked_end.lock().unwrap() = Some(end);
        let (errors, seen) = self.consumer.join().expect("live consumer thread");
        assert!(self.consumer_done.load(Ordering::Relaxed));
        assert_eq!(failed, 0, "live producer saw failed deliveries");
        assert!(errors.is_empty(), "live consumer saw errors: {errors:?}");
        for (p, o, payload) in &acked {
            assert_eq!(
                seen.get(&(*p, *o)),
                Some(payload),
                "live message at {p}@{o} not consumed as produced"
            );
        }
        acked.len()
    }
}

/// The broker answers an ApiVersions v0 on a new connection.
fn assert_serves(broker: &Broker, after: &str) {
    let mut c = RawConn::connect(&broker.bootstrap);
    let resp: ApiVersionsResponse =
        c.request(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0, "ApiVersions after {after}");
    assert!(!resp.api_keys.is_empty(), "ApiVersions after {after}");
}

/// The broker closes `c` (sending nothing) and logs the disconnect naming the client's address.
fn assert_disconnected(broker: &Broker, c: &mut RawConn, case: &str) {
    let peer = c.stream.local_addr().expect("local addr").to_string();
    if let Err(got) = c.closed_within(DISCONNECT_WITHIN) {
        panic!(
            "{case}: expected the broker to close the connection within {DISCONNECT_WITHIN:?}; got {} bytes {:?}",
            got.len(),
            &got[..got.len().min(64)]
        );
    }
    wait_until(
        DISCONNECT_WITHIN,
        &format!("{case}: the broker logs the disconnect of {peer}"),
        || broker.log().contains(&peer),
    );
}

fn max_version(versions: &ApiVersionsResponse, key: ApiKey) -> i16 {
    versions
        .api_keys
        .iter()
        .find(|k| k.api_key == key as i16)
        .unwrap_or_else(|| panic!("{key:?} not advertised"))
        .max_version
}

fn batch(corrupt_crc: bool) -> bytes::Bytes {
    let mut buf = BytesMut::from(&record_batch(3)[..]);
    if corrupt_crc {
        // The CRC-32C field follows baseOffset(8) batchLength(4) leaderEpoch(4) magic(1).
        buf[17] ^= 0xff;
    }
    buf.freeze()
}

fn produce_raw(
    c: &mut RawConn,
    version: i16,
    topic: &str,
    partition: i32,
    records: bytes::Bytes,
) -> (i16, i64, String) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName::from(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let resp: ProduceResponse = c.request(ApiKey::Produce, version, &req);
    let p = &resp.responses[0].partition_responses[0];
    let msg = p
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    (p.error_code, p.base_offset, msg)
}

/// Sends every bad-input case once. Returns nothing; panics with the case on a wrong answer.
fn bad_inputs_round(broker: &Broker, versions: &ApiVersionsResponse, round: usize) {
    // Garbage that looks like HTTP: "GET " read as a frame length of ~1.2 GB.
    let mut c = RawConn::connect(&broker.bootstrap);
    let _ = c.write_raw(b"GET / HTTP/1.1\r\nHost: fjord\r\n\r\n");
    assert_disconnected(broker, &mut c, "HTTP request bytes");
    assert_serves(broker, "HTTP request bytes");

    // Garbage inside a well-sized frame: not a request header we can parse.
    let mut c = RawConn::connect(&broker.bootstrap);
    let garbage: Vec<u8> = (0..64u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(round as u32) >> 13) as u8)
        .collect();
    let _ = c.send_frame(&garbage);
    assert_disconnected(broker, &mut c, "garbage frame");
    assert_serves(broker, "garbage frame");

    // A negative frame length.
    let mut c = RawConn::connect(&broker.bootstrap);
    let _ = c.write_raw(&(-5i32).to_be_bytes());
    assert_disconnected(broker, &mut c, "negative frame length");

    // A frame length over socket.request.max.bytes: refused before the body is read.
    let mut c = RawConn::connect(&broker.bootstrap);
    let _ = c.write_raw(&((MAX_REQUEST as i32) + 1).to_be_bytes());
    let _ = c.write_raw(&[0u8; 16]);
    assert_disconnected(broker, &mut c, "frame over socket.request.max.bytes");
    assert_serves(broker, "frame over socket.request.max.bytes");

    // Truncated: the length says 100, 20 bytes come, then the client closes.
    let mut c = RawConn::connect(&broker.bootstrap);
    let mut partial = Vec::new();
    partial.extend_from_slice(&100i32.to_be_bytes());
    partial.extend_from_slice(&[0, 18, 0, 0, 0, 0, 0, 7]); // ApiVersions v0, correlation id 7
    partial.extend_from_slice(&[0u8; 12]);
    let _ = c.write_raw(&partial);
    drop(c);
    assert_serves(broker, "truncated request");

    // Unknown API key: Kafka closes the connection.
    let mut c = RawConn::connect(&broker.bootstrap);
    c.send_raw_request(32_000, 0, &[]);
    assert_disconnected(broker, &mut c, "unknown API key 32000");
    assert_serves(broker, "unknown API key");

    // A version of Metadata past the advertised max: Kafka closes the connection.
    let mut c = RawConn::connect(&broker.bootstrap);
    let too_new = max_version(versions, ApiKey::Metadata) + 1;
    c.send_raw_request(ApiKey::Metadata as i16, too_new, &[0, 0, 0, 0]);
    assert_disconnected(broker, &mut c, &format!("Metadata v{too_new}"));
    assert_serves(broker, "unsupported Metadata version");

    // ApiVersions with a too-new version: a v0 response with UNSUPPORTED_VERSION (35) and the
    // API list, so the client can retry with a version both sides know.
    let mut c = RawConn::connect(&broker.bootstrap);
    let cid = c.send_raw_request(ApiKey::ApiVersions as i16, 99, &[0, 0, 0]);
    let mut frame = c.read_frame().expect("ApiVersions v99 answered");
    let header = ResponseHeader::decode(&mut frame, 0).expect("v0 response header");
    assert_eq!(header.correlation_id, cid);
    let resp = ApiVersionsResponse::decode(&mut frame, 0).expect("v0 ApiVersions body");
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    let av = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
        .expect("ApiVersions itself listed");
    assert_eq!(av.min_version, 0);
    // The same connection keeps working with a version the broker knows.
    let ok: ApiVersionsResponse = c.request(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    assert_eq!(ok.error_code, 0);

    // A Produce whose batch CRC is wrong: CORRUPT_MESSAGE (2); nothing appended.
    let produce_version = max_version(versions, ApiKey::Produce).min(9);
    let mut c = RawConn::connect(&broker.bootstrap);
    let before = watermarks(&broker.bootstrap, "raw");
    let (err, _, msg) = produce_raw(&mut c, produce_version, "raw", 0, batch(true));
    assert_eq!(
        err, 2,
        "CORRUPT_MESSAGE for a bad CRC (Produce v{produce_version}); message {msg:?}"
    );
    // The same connection can then produce a good batch.
    let (err, base, _) = produce_raw(&mut c, produce_version, "raw", 0, batch(false));
    assert_eq!(err, 0, "good batch after a corrupt one");
    assert_eq!(base, before[&0].1, "the corrupt batch took no offsets");

    // Produce to a missing topic with auto-create off: UNKNOWN_TOPIC_OR_PARTITION (3).
    let (err, _, _) = produce_raw(&mut c, produce_version, "no-such-topic", 0, batch(false));
    assert_eq!(err, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    // And to a partition the topic does not have.
    let (err, _, _) = produce_raw(&mut c, produce_version, "raw", 7, batch(false));
    assert_eq!(err, 3, "UNKNOWN_TOPIC_OR_PARTITION for partition 7");

    // An array count of 2^31 - 1 elements in a small frame: a disconnect, no allocation.
    let mut c = RawConn::connect(&broker.bootstrap);
    let mut body = BytesMut::new();
    body.put_i32(i32::MAX); // Metadata v1 topics array count
    body.put_slice(&[0u8; 8]);
    c.send_raw_request(ApiKey::Metadata as i16, 1, &body);
    assert_disconnected(broker, &mut c, "Metadata v1 with a 2^31-1 element array");
    assert_serves(broker, "huge array count");

    // The same inside a Produce request (topic data array).
    let mut c = RawConn::connect(&broker.bootstrap);
    let mut body = BytesMut::new();
    body.put_i16(-1); // transactional id: null
    body.put_i16(-1); // acks
    body.put_i32(1000); // timeout
    body.put_i32(i32::MAX); // topic data count
    c.send_raw_request(ApiKey::Produce as i16, 3, &body);
    assert_disconnected(broker, &mut c, "Produce v3 with a 2^31-1 element array");

    // A topics array count of 2^31 - 1 with flexible (compact) encoding: varint 0x80000000.
    let mut c = RawConn::connect(&broker.bootstrap);
    let flex = max_version(versions, ApiKey::Metadata).max(9);
    let mut body = BytesMut::new();
    body.put_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]); // unsigned varint 2^31
    body.put_slice(&[0u8; 8]);
    c.send_raw_request(ApiKey::Metadata as i16, flex, &body);
    assert_disconnected(
        broker,
        &mut c,
        "flexible Metadata with a 2^31 element compact array",
    );

    // A Metadata request still works.
    let mut c = RawConn::connect(&broker.bootstrap);
    let md: MetadataResponse = c.request(
        ApiKey::Metadata,
        1,
        &MetadataRequest::default().with_topics(None),
    );
    assert!(md
        .topics
        .iter()
        .any(|t| t.name.as_ref().map(|n| n.as_str()) == Some("live")));
}

#[test]
fn bad_requests_get_an_error_or_a_disconnect_while_real_clients_keep_working() {
    let max = MAX_REQUEST.to_string();
    let broker = Broker::start_with(&[
        ("socket.request.max.bytes", &max),
        ("auto.create.topics.enable", "false"),
    ]);
    broker.create_topic("live", 2, &[]);
    broker.create_topic("raw", 1, &[]);
    let mut c = RawConn::connect(&broker.bootstrap);
    let versions: ApiVersionsResponse =
        c.request(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());

    let live = LiveTraffic::start(&broker.bootstrap, "live");
    let rss_start = broker.rss_kib().expect("broker RSS");
    let mut rss_max = rss_start;
    let rounds = 25;
    for round in 0..rounds {
        bad_inputs_round(&broker, &versions, round);
        rss_max = rss_max.max(broker.rss_kib().expect("broker still running"));
    }
    let live_acked = live.finish();
    eprintln!(
        "{rounds} rounds of bad input; live client: {live_acked} messages acknowledged and consumed; RSS {rss_start} KiB -> max {rss_max} KiB"
    );
    assert!(live_acked > 0, "the live producer got nothing acknowledged");
    assert!(
        rss_max < RSS_LIMIT_KIB,
        "broker RSS reached {rss_max} KiB (limit {RSS_LIMIT_KIB} KiB)"
    );

    // Everything the raw producer got acknowledged is there: 3 records per good batch.
    let raw = consume_all(&broker.bootstrap, "raw");
    assert_eq!(raw[&0].len(), 3 * rounds);
    for (i, c) in raw[&0].iter().enumerate() {
        assert_eq!(c.offset, i as i64);
        assert_eq!(
            c.key.as_deref(),
            Some(format!("raw-key-{}", i % 3).as_bytes())
        );
    }
    assert_serves(&broker, "all rounds");
    let mut c = RawConn::connect(&broker.bootstrap);
    let md: MetadataResponse = c.request(
        ApiKey::Metadata,
        1,
        &MetadataRequest::default().with_topics(None),
    );
    let names: Vec<&str> = md
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.as_str()))
        .collect();
    assert!(
        !names.contains(&"no-such-topic"),
        "auto-created despite auto.create.topics.enable=false"
    );
    // The broker is still alive.
    let _ = broker.pid().expect("running");
}
