//! Log compaction end to end: the broker's cleaner thread compacts a topic with many updates
//! per key while the broker serves it, and an rdkafka consumer reading from offset 0 then sees
//! the latest value of every key, at increasing offsets.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fjord_tests::*;

const KEYS: usize = 50;
const UPDATES: usize = 60;

/// Base offset of the newest segment of a partition directory (the active one).
fn active_base(dir: &Path) -> i64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| {
                    let name = e.ok()?.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".log")?.parse::<i64>().ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// The first dirty offset of the partition's `cleaner-offset-checkpoint`, if written.
fn first_dirty(dir: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join("cleaner-offset-checkpoint")).ok()?;
    text.lines().nth(1)?.parse().ok()
}

#[test]
fn a_compacted_topic_serves_the_latest_value_per_key_at_increasing_offsets() {
    let broker = Broker::start_with(&[("log.cleaner.backoff.ms", "50")]);
    broker.create_topic(
        "kv",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "16384"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let mut msgs = Vec::new();
    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    for update in 0..UPDATES {
        for k in 0..KEYS {
            let (key, value) = (
                format!("key-{k}"),
                format!("value-{update}-of-key-{k}-{}", "x".repeat(k)),
            );
            latest.insert(key.clone(), value.clone());
            msgs.push(Outgoing::new(0, key, value));
        }
    }
    let mut cfg = producer_config(&broker.bootstrap, "lz4");
    cfg.set("enable.idempotence", "true")
        .set("batch.size", "4000");
    let acked = produce_ok(&cfg, "kv", &msgs);
    let end = acked.iter().map(|a| a.1).max().unwrap() + 1;
    assert_eq!(end, (KEYS * UPDATES) as i64);

    let dir = broker.data_dir.join("kv-0");
    wait_until(
        Duration::from_secs(60),
        "the cleaner reaches the active segment",
        || {
            let active = active_base(&dir);
            active > 0 && first_dirty(&dir) == Some(active)
        },
    );
    assert!(broker.log().contains("cleaned log"), "{}", broker.log());
    let active = active_base(&dir);

    let consumed = consume_range(&broker.bootstrap, "kv", &BTreeMap::from([(0, (0, end))]));
    let records = &consumed[&0];
    assert!(
        records.windows(2).all(|w| w[0].offset < w[1].offset),
        "offsets are not increasing"
    );
    // Below the active segment (never cleaned, as in Kafka) each key is left once.
    let cleaned: Vec<&Consumed> = records.iter().filter(|r| r.offset < active).collect();
    let keys: std::collections::BTreeSet<_> = cleaned.iter().map(|r| r.key.clone()).collect();
    assert_eq!(
        cleaned.len(),
        keys.len(),
        "{} records for {} keys below offset {active}",
        cleaned.len(),
        keys.len()
    );
    assert!(records.len() < KEYS * UPDATES, "nothing was compacted");
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for r in records {
        let key = String::from_utf8(r.key.clone().unwrap()).unwrap();
        let value = String::from_utf8(r.payload.clone().unwrap()).unwrap();
        seen.insert(key, value);
    }
    assert_eq!(
        seen, latest,
        "the last value read per key is the latest written"
    );

    // The idempotent producer state survived: the same producer type writes on.
    let more = produce_ok(&cfg, "kv", &[Outgoing::new(0, "key-0", "after")]);
    assert_eq!(more[0].1, end);
}

#[test]
fn a_tombstone_goes_once_delete_retention_ms_has_passed_without_new_writes() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let broker = Broker::start_with(&[("log.cleaner.backoff.ms", "50")]);
    broker.create_topic(
        "deletes",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "0"),
        ],
    );
    let mut cfg = producer_config(&broker.bootstrap, "none");
    cfg.set("batch.size", "1000")
        .set("enable.idempotence", "true");
    let producer: BaseProducer = cfg.create().expect("producer");
    fn send(producer: &BaseProducer, record: BaseRecord<'_, str, str>) {
        producer.send(record).map_err(|(e, _)| e).expect("enqueue");
    }
    send(
        &producer,
        BaseRecord::to("deletes")
            .key("gone")
            .payload("value")
            .partition(0),
    );
    send(
        &producer,
        BaseRecord::to("deletes").key("gone").partition(0),
    ); // the tombstone
    for i in 0..200 {
        let value = format!("filler-{i}-{}", "y".repeat(40));
        let key = format!("k{}", i % 5);
        send(
            &producer,
            BaseRecord::to("deletes")
                .key(key.as_str())
                .payload(value.as_str())
                .partition(0),
        );
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let end = watermarks(&broker.bootstrap, "deletes")[&0].1;
    assert_eq!(end, 202);

    // With delete.retention.ms=0 the first cleaning stamps the horizon and a later one, due
    // as soon as the horizon passes, removes the tombstone: no new write is needed.
    wait_until(
        Duration::from_secs(60),
        "the tombstone is cleaned away",
        || {
            let consumed = consume_range(
                &broker.bootstrap,
                "deletes",
                &BTreeMap::from([(0, (0, end))]),
            );
            !consumed[&0]
                .iter()
                .any(|r| r.key.as_deref() == Some(b"gone".as_slice()))
        },
    );
    let consumed = consume_range(
        &broker.bootstrap,
        "deletes",
        &BTreeMap::from([(0, (0, end))]),
    );
    let keys: std::collections::BTreeSet<String> = consumed[&0]
        .iter()
        .map(|r| String::from_utf8(r.key.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
}
