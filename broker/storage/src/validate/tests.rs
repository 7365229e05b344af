use std::io::Write as _;

use bytes::Bytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};

use super::*;
use crate::testutil::BatchBuilder;

const NOW: i64 = 1_700_000_000_000;

fn config() -> ValidationConfig {
    ValidationConfig::for_log(&LogConfig::default())
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

/// A batch header (CRC computed) over `section`, as a hostile or careless producer could send.
fn raw_batch(section: &[u8], count: i32, codec: i16, base_ts: i64, max_ts: i64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + section.len()) as i32).to_be_bytes());
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
    batch::recompute_crc(&mut b);
    b
}

fn keyed(n: i64, ts_delta: i64) -> Vec<u8> {
    (0..n)
        .flat_map(|i| record(ts_delta, i, Some(format!("k{i}").as_bytes()), b"v"))
        .collect()
}

fn code(r: &Result<Cow<'_, [u8]>, Rejection>) -> i16 {
    r.as_ref().err().map_or(0, |e| e.error.kafka_error_code())
}

#[test]
fn a_well_formed_batch_is_kept_as_sent() {
    let b = BatchBuilder::new(3).build();
    let out = validate_produced(&b, &config(), NOW).unwrap();
    assert!(matches!(out, Cow::Borrowed(_)));
}

#[test]
fn a_record_count_of_two_billion_is_invalid_without_decoding() {
    let b = raw_batch(&keyed(1, 0), i32::MAX, codec::NONE, NOW, NOW);
    let r = validate_produced(&b, &config(), NOW);
    assert_eq!(code(&r), 87, "{r:?}");
}

#[test]
fn more_or_fewer_records_than_declared_are_invalid() {
    let b = raw_batch(&keyed(3, 0), 2, codec::NONE, NOW, NOW);
    assert_eq!(code(&validate_produced(&b, &config(), NOW)), 87);
    let b = raw_batch(&keyed(2, 0), 3, codec::NONE, NOW, NOW);
    assert_eq!(code(&validate_produced(&b, &config(), NOW)), 87);
}

#[test]
fn a_malformed_record_with_a_valid_crc_is_invalid() {
    let mut section = keyed(2, 0);
    // The first record's key length (byte 4: length, attributes, ts delta, offset delta) now
    // claims 60 bytes, more than the record holds.
    section[4] = 120;
    let b = raw_batch(&section, 2, codec::NONE, NOW, NOW);
    let r = validate_produced(&b, &config(), NOW);
    assert_eq!(code(&r), 87, "{r:?}");
    assert!(r.unwrap_err().to_string().contains("malformed record"));
}

#[test]
fn offset_deltas_must_run_from_zero() {
    let section: Vec<u8> = [
        record(0, 0, Some(b"a"), b"v"),
        record(0, 5, Some(b"b"), b"v"),
    ]
    .concat();
    let b = raw_batch(&section, 2, codec::NONE, NOW, NOW);
    assert_eq!(code(&validate_produced(&b, &config(), NOW)), 87);
}

#[test]
fn far_future_huge_and_negative_timestamps_are_refused_per_record() {
    for ts in [253_402_300_799_000, i64::MAX, -5] {
        let section: Vec<u8> = [
            record(0, 0, Some(b"a"), b"v"),
            record(ts - NOW, 1, Some(b"b"), b"v"),
        ]
        .concat();
        let b = raw_batch(&section, 2, codec::NONE, NOW, NOW);
        let r = validate_produced(&b, &config(), NOW);
        assert_eq!(code(&r), 32, "{ts}: {r:?}");
        let errors = r.unwrap_err().record_errors;
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].batch_index, 1);
    }
}

#[test]
fn timestamp_bounds_are_configurable_and_log_append_time_skips_them() {
    let b = raw_batch(&keyed(1, -10_000), 1, codec::NONE, NOW, NOW - 10_000);
    let strict = ValidationConfig {
        timestamp_before_max_ms: 5_000,
        ..config()
    };
    assert_eq!(code(&validate_produced(&b, &strict, NOW)), 32);
    let append_time = ValidationConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..strict
    };
    assert!(validate_produced(&b, &append_time, NOW).is_ok());
}

#[test]
fn max_timestamp_is_recomputed_from_the_records() {
    // librdkafka-style header: maxTimestamp 0 while records carry real times.
    let b = raw_batch(&keyed(3, 0), 3, codec::NONE, NOW - 100, 0);
    let out = validate_produced(&b, &config(), NOW).unwrap();
    let h = batch::validate(&out).unwrap();
    assert_eq!(h.max_timestamp, NOW - 100);
    // Records without timestamps: the batch has none either (-1), never 0.
    let b = raw_batch(&keyed(2, 0), 2, codec::NONE, -1, 0);
    let out = validate_produced(&b, &config(), NOW).unwrap();
    assert_eq!(batch::validate(&out).unwrap().max_timestamp, -1);
}

#[test]
fn a_compacted_topic_refuses_records_without_a_key() {
    let section: Vec<u8> = [record(0, 0, Some(b"a"), b"v"), record(0, 1, None, b"v")].concat();
    let b = raw_batch(&section, 2, codec::NONE, NOW, NOW);
    let compacted = ValidationConfig {
        compacted: true,
        ..config()
    };
    let r = validate_produced(&b, &compacted, NOW);
    assert_eq!(code(&r), 87);
    assert_eq!(r.unwrap_err().record_errors[0].batch_index, 1);
    assert!(validate_produced(&b, &config(), NOW).is_ok());
}

#[test]
fn recompression_keeps_records_offsets_and_producer_fields() {
    let original = BatchBuilder::new(50)
        .producer(7, 3, 100)
        .compression(Compression::Snappy)
        .build();
    let before = batch::validate(&original).unwrap();
    for target in [codec::NONE, codec::GZIP, codec::LZ4, codec::ZSTD] {
        let cfg = ValidationConfig {
            target_compression: Some(target),
            ..config()
        };
        let out = validate_produced(&original, &cfg, NOW)
            .unwrap()
            .into_owned();
        let after = batch::validate(&out).unwrap();
        assert_eq!(after.compression(), target);
        assert_eq!(
            (
                after.producer_id,
                after.producer_epoch,
                after.base_sequence,
                after.record_count
            ),
            (
                before.producer_id,
                before.producer_epoch,
                before.base_sequence,
                before.record_count
            )
        );
        assert_eq!(after.max_timestamp, before.max_timestamp);
        let a = RecordBatchDecoder::decode(&mut Bytes::from(original.clone())).unwrap();
        let b = RecordBatchDecoder::decode(&mut Bytes::from(out)).unwrap();
        assert_eq!(a.records, b.records, "codec {target}");
    }
    let same = ValidationConfig {
        target_compression: Some(codec::SNAPPY),
        ..config()
    };
    assert!(matches!(
        validate_produced(&original, &same, NOW).unwrap(),
        Cow::Borrowed(_)
    ));
}

#[test]
fn a_snappy_batch_claiming_4_gib_is_corrupt() {
    let mut section = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    section.extend_from_slice(&[0u8; 36]);
    let b = raw_batch(&section, 1, codec::SNAPPY, NOW, NOW);
    assert_eq!(b.len(), 102);
    let r = validate_produced(&b, &config(), NOW);
    assert_eq!(code(&r), 2, "{r:?}");
}

/// `per_member * members` copies of `record` in gzip: one member compressed once, repeated,
/// as gzip readers accept concatenated members. Cheap to build, huge to decompress.
fn gzip_members(record: &[u8], per_member: usize, members: usize) -> Vec<u8> {
    let member_records: Vec<u8> = record
        .iter()
        .copied()
        .cycle()
        .take(record.len() * per_member)
        .collect();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&member_records).unwrap();
    e.finish().unwrap().repeat(members)
}

#[test]
fn a_gzip_bomb_of_100m_records_is_refused_and_decoding_stops_at_the_limit() {
    // 100 M seven-byte records (700 MB) in about 1 MB.
    let bomb = gzip_members(&record(0, 0, None, b""), 1_000_000, 100);
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let b = raw_batch(&bomb, 100_000_000, codec::GZIP, NOW, NOW);
    // As declared: 100 M records cannot fit in the decompression limit.
    assert_eq!(code(&validate_produced(&b, &config(), NOW)), 87);
    // Declaring a count the limit could hold: the reader stops once the limit is passed,
    // having held one record at a time.
    let bomb = gzip_members(&record(0, 0, None, &[0; 93]), 10_000, 100);
    let limit = 1 << 20;
    let b = raw_batch(&bomb, (limit / 7) as i32, codec::GZIP, NOW, NOW);
    let header = batch::validate(&b).unwrap();
    let mut reader = RecordReader::new(&header, &b, limit).unwrap();
    let mut read = 0;
    let err = loop {
        match reader.next_record() {
            Ok(Some(_)) => read += 1,
            Ok(None) => panic!("the limit was not applied"),
            Err(e) => break e,
        }
    };
    assert_eq!(err, BatchError::DecompressedTooLarge { limit });
    assert_eq!(err.kafka_error_code(), 10);
    assert!(read < limit / 100, "{read}");
}

/// A batch whose header passes `Log::append`'s checks but whose records do not decode: as
/// written by a broker before validation existed, or damaged on disk.
fn undecodable_batch(max_ts: i64) -> Vec<u8> {
    let mut b = raw_batch(&keyed(1, 0), 1_000_000, codec::NONE, max_ts, max_ts);
    // Stays a one-record payload claiming a million records (lastOffsetDelta agrees).
    b[23..27].copy_from_slice(&999_999i32.to_be_bytes());
    batch::recompute_crc(&mut b);
    b
}

#[test]
fn timestamp_lookups_skip_a_stored_batch_that_does_not_decode() {
    let dir = tempfile::tempdir().unwrap();
    let log = crate::Log::open(dir.path(), LogConfig::default()).unwrap();
    log.append(
        &BatchBuilder::new(2).timestamps(&[1000, 1001]).build(),
        0,
        0,
    )
    .unwrap();
    log.append(&undecodable_batch(4500), 0, 0).unwrap();
    let last = log
        .append(&BatchBuilder::new(1).timestamps(&[5000]).build(), 0, 0)
        .unwrap();
    let found = log.offset_for_timestamp(4000).unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp), (last.base_offset, 5000));
}

#[test]
fn compaction_keeps_a_stored_batch_that_does_not_decode_and_compacts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 300,
        cleanup_policy: crate::CleanupPolicy::Compact,
        ..LogConfig::default()
    };
    let log = crate::Log::open(dir.path(), config).unwrap();
    for _ in 0..3 {
        log.append(&BatchBuilder::new(2).keys(&["a", "b"]).build(), 0, 0)
            .unwrap();
    }
    log.append(&undecodable_batch(1000), 0, 0).unwrap();
    for _ in 0..3 {
        log.append(&BatchBuilder::new(2).keys(&["a", "b"]).build(), 0, 0)
            .unwrap();
    }
    assert!(log.segment_count() >= 3);
    let stats = log.compact().unwrap();
    assert!(stats.records_removed > 0, "{stats:?}");
}
