//! Cleaner throughput and peak memory on one partition: `<keys>` keys (default 50,000), each
//! written `<updates>` times (default 4) in lz4 batches of 100 records with 100-byte values,
//! then one forced pass. Prints the pass's statistics, its read rate and the process's peak
//! RSS (VmHWM) before and after.
//!
//! `cargo run -p fjord-storage --example cleaner_bench -- 100000 4`
use bytes::{Bytes, BytesMut};
use fjord_storage::{Cleaner, CleanerConfig, CleanupPolicy, Log, LogConfig};
use kafka_protocol::records::*;
use std::time::Instant;

fn hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let keys: usize = std::env::args()
        .nth(1)
        .map_or(50_000, |v| v.parse().unwrap());
    let updates: usize = std::env::args().nth(2).map_or(4, |v| v.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        LogConfig {
            segment_bytes: 16 << 20,
            cleanup_policy: CleanupPolicy::Compact,
            ..LogConfig::default()
        },
    )
    .unwrap();
    let value = Bytes::from(vec![b'v'; 100]);
    let mut n = 0;
    for u in 0..updates {
        for chunk in (0..keys).collect::<Vec<_>>().chunks(100) {
            let records: Vec<Record> = chunk
                .iter()
                .enumerate()
                .map(|(i, k)| Record {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: TimestampType::Creation,
                    offset: i as i64,
                    sequence: -1,
                    timestamp: 1000 + u as i64,
                    key: Some(Bytes::from(format!("key-{k:08}"))),
                    value: Some(value.clone()),
                    headers: Default::default(),
                })
                .collect();
            let mut buf = BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                records.iter(),
                &RecordEncodeOptions {
                    version: 2,
                    compression: Compression::Lz4,
                },
            )
            .unwrap();
            log.append(&buf, 0, 0).unwrap();
            n += chunk.len();
        }
    }
    log.maybe_roll(i64::MAX / 2).unwrap();
    let size = log.size_bytes();
    println!("records {n}, log bytes {size}, before clean: {}", hwm());
    let mut cleaner = Cleaner::new(CleanerConfig::default());
    let start = Instant::now();
    let s = cleaner.clean(&log, 0, true).unwrap();
    let took = start.elapsed().as_secs_f64();
    println!(
        "{s:?}\nelapsed {took:.2}s, read {:.1} MB/s (map + clean), after clean: {}",
        (s.map_bytes_read + s.clean_bytes_read) as f64 / took / 1e6,
        hwm()
    );
}
