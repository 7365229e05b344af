//! Produce validates what it stores (Kafka's LogValidator): hostile and careless batches are
//! refused with Kafka's error codes and never written, so later lookups, restarts and consumers
//! keep working; timestamps are checked and the batch max recomputed; compacted topics need
//! keys; `compression.type` recompresses on the broker.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fjord_tests::*;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

const CORRUPT_MESSAGE: i16 = 2;
const INVALID_TOPIC: i16 = 17;
const INVALID_TIMESTAMP: i16 = 32;
const INVALID_RECORD: i16 = 87;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// One v2 record, length prefix included.
fn record(ts_delta: i64, offset_delta: i64, key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8];
    zigzag(ts_delta, &mut body);
    zigzag(offset_delta, &mut body);
    match key {
        Some(k) => {
            zigzag(k.len() as i64, &mut body);
            body.extend_from_slice(k);
        }
        None => zigzag(-1, &mut body),
    }
    zigzag(value.len() as i64, &mut body);
    body.extend_from_slice(value);
    zigzag(0, &mut body);
    let mut out = Vec::new();
    zigzag(body.len() as i64, &mut out);
    out.extend_from_slice(&body);
    out
}

/// A v2 batch with a correct CRC-32C over whatever `section` and the header claim.
fn batch(section: &[u8], count: i32, codec: i16, base_ts: i64, max_ts: i64) -> Bytes {
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((49 + section.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&codec.to_be_bytes());
    b.extend_from_slice(&(count - 1).to_be_bytes());
    b.extend_from_slice(&base_ts.to_be_bytes());
    b.extend_from_slice(&max_ts.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(section);
    let crc = crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// CRC-32C (Castagnoli), bitwise: test batches are small.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn keyed(n: i64, ts_delta: i64) -> Vec<u8> {
    (0..n)
        .flat_map(|i| record(ts_delta, i, Some(format!("k{i}").as_bytes()), b"value"))
        .collect()
}

/// 100 M seven-byte records in about 1 MB of gzip (one member, repeated).
fn gzip_bomb() -> Vec<u8> {
    let tiny = record(0, 0, None, b"");
    let member: Vec<u8> = tiny
        .iter()
        .copied()
        .cycle()
        .take(tiny.len() * 1_000_000)
        .collect();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&member).unwrap();
    e.finish().unwrap().repeat(100)
}

fn produce(conn: &mut RawConn, topic: &str, records: Bytes) -> PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let resp: ProduceResponse = conn.request(ApiKey::Produce, 9, &req);
    resp.responses[0].partition_responses[0].clone()
}

/// ListOffsets v7 by timestamp for partition 0: (error, timestamp, offset).
fn offset_for_time(conn: &mut RawConn, topic: &str, ts: i64) -> (i16, i64, i64) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(ts)])]);
    let resp: ListOffsetsResponse = conn.request(ApiKey::ListOffsets, 7, &req);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.timestamp, p.offset)
}

#[test]
fn hostile_batches_are_refused_and_lookups_and_restarts_keep_working() {
    let mut broker = Broker::start();
    broker.create_topic("hostile", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let now = now_ms();

    // A good batch first, so lookups have something to find.
    let good = produce(&mut conn, "hostile", batch(&keyed(2, 0), 2, 0, now, now));
    assert_eq!((good.error_code, good.base_offset), (0, 0));

    // 1. Uncompressed, claiming 2^31-1 records.
    let r = produce(
        &mut conn,
        "hostile",
        batch(&keyed(1, 0), i32::MAX, 0, now, now),
    );
    assert_eq!(r.error_code, INVALID_RECORD, "{r:?}");
    // 2. Snappy claiming 4 GiB in 102 bytes; gzip of 100 M tiny records.
    let mut snappy = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    snappy.extend_from_slice(&[0u8; 36]);
    let bomb = batch(&snappy, 1, 2, now, now);
    assert_eq!(bomb.len(), 102);
    let r = produce(&mut conn, "hostile", bomb);
    assert_eq!(r.error_code, CORRUPT_MESSAGE, "{r:?}");
    let r = produce(
        &mut conn,
        "hostile",
        batch(&gzip_bomb(), 100_000_000, 1, now, now),
    );
    assert_eq!(r.error_code, INVALID_RECORD, "{r:?}");
    // 3. Valid CRC, malformed record: the key length claims more than the record holds.
    let mut section = keyed(2, 0);
    section[4] = 120;
    let r = produce(&mut conn, "hostile", batch(&section, 2, 0, now, now));
    assert_eq!(r.error_code, INVALID_RECORD, "{r:?}");
    // 4. Year 9999, i64::MAX and negative timestamps, with the record named.
    for ts in [253_402_300_799_000, i64::MAX, -5] {
        let section = [
            record(0, 0, Some(b"a"), b"v"),
            record(ts - now, 1, Some(b"b"), b"v"),
        ]
        .concat();
        let r = produce(&mut conn, "hostile", batch(&section, 2, 0, now, now));
        assert_eq!(r.error_code, INVALID_TIMESTAMP, "{ts}: {r:?}");
        assert_eq!(r.record_errors.len(), 1, "{r:?}");
        assert_eq!(r.record_errors[0].batch_index, 1);
    }
    // 8. Internal topics are the broker's own.
    let r = produce(
        &mut conn,
        "__consumer_offsets",
        batch(&keyed(1, 0), i32::MAX, 0, now, now),
    );
    assert_eq!(r.error_code, INVALID_TOPIC, "{r:?}");
    let r = produce(
        &mut conn,
        "__consumer_offsets",
        batch(&keyed(1, 0), 1, 0, now, now),
    );
    assert_eq!(r.error_code, INVALID_TOPIC, "{r:?}");
    assert!(r
        .error_message
        .as_ref()
        .is_some_and(|m| m.contains("Cannot append to internal topic")));

    // Nothing refused was written: the next batch follows the good one.
    let next = produce(
        &mut conn,
        "hostile",
        batch(&keyed(1, 0), 1, 0, now + 5, now + 5),
    );
    assert_eq!((next.error_code, next.base_offset), (0, 2));
    assert_eq!(
        offset_for_time(&mut conn, "hostile", now + 1),
        (0, now + 5, 2)
    );
    assert_eq!(offset_for_time(&mut conn, "hostile", 0), (0, now, 0));

    broker.restart();
    let mut conn = RawConn::connect(&broker.bootstrap);
    assert_eq!(
        offset_for_time(&mut conn, "hostile", now + 1),
        (0, now + 5, 2)
    );
    let all = consume_all(&broker.bootstrap, "hostile");
    assert_eq!(all[&0].len(), 3);
    assert!(broker.is_running());
}

#[test]
fn the_batch_max_timestamp_is_recomputed_so_retention_keeps_fresh_records() {
    // librdkafka-style batches: records without timestamps (-1) and maxTimestamp 0 in the
    // header. Before, the segment looked 55 years old and time retention deleted it at once.
    let broker = Broker::start_with(&[("log.retention.check.interval.ms", "100")]);
    broker.create_topic(
        "untimed",
        1,
        &[("retention.ms", "3600000"), ("segment.bytes", "1000")],
    );
    let mut conn = RawConn::connect(&broker.bootstrap);
    let now = now_ms();
    // An old batch filling its own segment: retention deleting it shows a pass has run.
    let old_record = record(0, 0, Some(b"old"), &[b'o'; 850]);
    let old = produce(
        &mut conn,
        "untimed",
        batch(&old_record, 1, 0, now - 7_200_000, now - 7_200_000),
    );
    assert_eq!(old.error_code, 0, "{old:?}");
    let section: Vec<u8> = (0..3)
        .flat_map(|i| record(0, i, Some(b"k"), &[b'x'; 100]))
        .collect();
    let untimed = produce(&mut conn, "untimed", batch(&section, 3, 0, -1, 0));
    assert_eq!(
        (untimed.error_code, untimed.base_offset),
        (0, 1),
        "{untimed:?}"
    );
    wait_until(
        Duration::from_secs(30),
        "retention removes the old batch",
        || watermarks(&broker.bootstrap, "untimed")[&0].0 > 0,
    );
    // The same pass looked at the untimed segment after the old one and kept it.
    assert_eq!(watermarks(&broker.bootstrap, "untimed")[&0], (1, 4));
    let kept = consume_all(&broker.bootstrap, "untimed");
    assert_eq!(kept[&0].len(), 3);
    assert!(kept[&0].iter().all(|c| c.timestamp.is_none()), "{kept:?}");
}

#[test]
fn records_produced_by_librdkafka_without_timestamps_survive_time_retention() {
    let broker = Broker::start_with(&[("log.retention.check.interval.ms", "100")]);
    broker.create_topic(
        "rdkafka-untimed",
        1,
        &[("retention.ms", "3600000"), ("segment.bytes", "1000")],
    );
    let cfg = producer_config(&broker.bootstrap, "none");
    // Fills its own segment: every later batch rolls.
    let mut old = Outgoing::new(0, "old", vec![b'o'; 850]);
    old.timestamp = Some(now_ms() - 7_200_000);
    produce_ok(&cfg, "rdkafka-untimed", &[old]);
    let untimed: Vec<Outgoing> = (0..3)
        .map(|i| {
            let mut m = Outgoing::new(0, format!("k{i}"), vec![b'x'; 100]);
            m.timestamp = Some(-1);
            m
        })
        .collect();
    produce_ok(&cfg, "rdkafka-untimed", &untimed);
    wait_until(
        Duration::from_secs(30),
        "retention removes the old record",
        || watermarks(&broker.bootstrap, "rdkafka-untimed")[&0].0 > 0,
    );
    assert_eq!(watermarks(&broker.bootstrap, "rdkafka-untimed")[&0], (1, 4));
    assert_eq!(
        consume_all(&broker.bootstrap, "rdkafka-untimed")[&0].len(),
        3
    );
}

#[test]
fn a_compacted_topic_refuses_a_record_without_a_key_with_invalid_record() {
    let broker = Broker::start();
    broker.create_topic("compacted", 1, &[("cleanup.policy", "compact")]);
    let mut cfg = producer_config(&broker.bootstrap, "none");
    cfg.set("retries", "0");
    let mut keyless = Outgoing::new(0, "", "no key");
    keyless.key = None;
    let reports = produce_all(&cfg, "compacted", &[keyless]);
    match &reports[0].result {
        Err(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidRecord)) => {}
        other => panic!("expected INVALID_RECORD, got {other:?}"),
    }
    // Keyed records are fine, and nothing of the refused batch was stored.
    let acked = produce_ok(&cfg, "compacted", &[Outgoing::new(0, "k", "v")]);
    assert_eq!(acked, vec![(0, 0)]);
}

#[test]
fn topic_timestamp_bounds_override_the_broker_defaults() {
    let broker = Broker::start();
    broker.create_topic(
        "recent-only",
        1,
        &[("message.timestamp.before.max.ms", "60000")],
    );
    broker.create_topic("any-age", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let now = now_ms();
    let hour_old = now - 3_600_000;
    let old = || batch(&record(0, 0, Some(b"k"), b"v"), 1, 0, hour_old, hour_old);
    let r = produce(&mut conn, "recent-only", old());
    assert_eq!(r.error_code, INVALID_TIMESTAMP, "{r:?}");
    // The broker default (no lower bound) still applies to other topics.
    let r = produce(&mut conn, "any-age", old());
    assert_eq!(r.error_code, 0, "{r:?}");
    let fresh = batch(&record(0, 0, Some(b"k"), b"v"), 1, 0, now, now);
    let r = produce(&mut conn, "recent-only", fresh);
    assert_eq!(r.error_code, 0, "{r:?}");
}

/// Compression codec ids of every batch stored in partition 0's first segment.
fn stored_codecs(broker: &Broker, topic: &str) -> Vec<i16> {
    let path = broker
        .data_dir
        .join(format!("{topic}-0"))
        .join("00000000000000000000.log");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut codecs = Vec::new();
    let mut pos = 0;
    while pos + 61 <= bytes.len() {
        let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        codecs.push(i16::from_be_bytes(bytes[pos + 21..pos + 23].try_into().unwrap()) & 7);
        pos += 12 + len;
    }
    codecs
}

#[test]
fn a_zstd_topic_stores_zstd_batches_that_rdkafka_reads_back_exactly() {
    let broker = Broker::start();
    broker.create_topic("squeezed", 1, &[("compression.type", "zstd")]);
    let t0 = now_ms() - 1000;
    let msgs: Vec<Outgoing> = (0..200)
        .map(|i| {
            let mut m = Outgoing::new(0, format!("key-{i}"), format!("value-{i}-").repeat(20));
            m.timestamp = Some(t0 + i as i64);
            m.headers = vec![("h".to_string(), format!("{i}").into_bytes())];
            m
        })
        .collect();
    for codec in ["none", "gzip", "lz4", "snappy"] {
        produce_ok(
            &producer_config(&broker.bootstrap, codec),
            "squeezed",
            &msgs,
        );
    }
    let codecs = stored_codecs(&broker, "squeezed");
    assert!(!codecs.is_empty());
    assert!(codecs.iter().all(|c| *c == 4), "{codecs:?}");
    let got = consume_all(&broker.bootstrap, "squeezed");
    assert_eq!(got[&0].len(), 800);
    for (n, c) in got[&0].iter().enumerate() {
        let m = &msgs[n % 200];
        assert_eq!(c.offset, n as i64);
        assert_eq!(c.key.as_deref(), m.key.as_deref());
        assert_eq!(c.payload.as_deref(), Some(&m.payload[..]));
        assert_eq!(c.timestamp, m.timestamp);
        assert_eq!(c.headers, m.headers);
    }
}
