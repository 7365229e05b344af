//! Helpers for the `rdkafka` crate: configs, producing with delivery reports, consuming
//! assigned partitions, watermarks and metadata.

use crate::{wait_until, CLIENT_TIMEOUT};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

// ---------------------------------------------------------------------------------------------
// rdkafka helpers
// ---------------------------------------------------------------------------------------------

/// An rdkafka config with `bootstrap.servers` and IPv4 only.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    cfg
}

/// A producer config: `acks=all`, a short linger, the given compression codec
/// (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
pub fn producer_config(bootstrap: &str, compression: &str) -> ClientConfig {
    let mut cfg = client_config(bootstrap);
    cfg.set("acks", "all")
        .set("compression.type", compression)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000");
    cfg
}

/// A consumer config for assigned partitions: librdkafka needs a `group.id` to `assign()`, but
/// nothing is subscribed or committed.
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut cfg = client_config(bootstrap);
    cfg.set("group.id", "fjord-tests-assigned")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .set("check.crcs", "true");
    cfg
}

/// One message handed to the producer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Outgoing {
    /// A keyed message for a given partition.
    pub fn new(partition: i32, key: impl Into<Vec<u8>>, payload: impl Into<Vec<u8>>) -> Self {
        Outgoing {
            partition: Some(partition),
            key: Some(key.into()),
            payload: payload.into(),
            timestamp: None,
            headers: Vec::new(),
        }
    }
}

/// The outcome of one produced message, from its delivery report.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Index of the message in the order it was handed to the producer.
    pub seq: usize,
    /// `(partition, offset)` on success.
    pub result: Result<(i32, i64), KafkaError>,
}

/// A producer context that records every delivery report, tagged by the message's sequence
/// number (the delivery opaque).
#[derive(Clone, Default)]
pub struct DeliveryCollector {
    reports: Arc<Mutex<Vec<Delivery>>>,
}

impl DeliveryCollector {
    /// All reports received so far.
    pub fn reports(&self) -> Vec<Delivery> {
        self.reports.lock().unwrap().clone()
    }
    /// Number of reports received so far.
    pub fn count(&self) -> usize {
        self.reports.lock().unwrap().len()
    }
    /// Number of successful reports so far.
    pub fn acked(&self) -> usize {
        self.reports
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.result.is_ok())
            .count()
    }
}

impl ClientContext for DeliveryCollector {}

impl ProducerContext for DeliveryCollector {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Self::DeliveryOpaque) {
        let result = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.clone()),
        };
        self.reports
            .lock()
            .unwrap()
            .push(Delivery { seq: *seq, result });
    }
}

/// A producer that records delivery reports in a [`DeliveryCollector`].
pub type CollectingProducer = ThreadedProducer<DeliveryCollector>;

/// Creates a [`CollectingProducer`] from `cfg`.
pub fn collecting_producer(cfg: &ClientConfig) -> (CollectingProducer, DeliveryCollector) {
    let collector = DeliveryCollector::default();
    let producer = cfg
        .create_with_context(collector.clone())
        .expect("create producer");
    (producer, collector)
}

/// Enqueues one message (retrying while the local queue is full). `seq` comes back in the
/// delivery report.
pub fn send(producer: &CollectingProducer, topic: &str, seq: usize, msg: &Outgoing) {
    let mut headers = OwnedHeaders::new();
    for (k, v) in &msg.headers {
        headers = headers.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    let mut record: BaseRecord<'_, [u8], [u8], Box<usize>> =
        BaseRecord::with_opaque_to(topic, Box::new(seq)).payload(&msg.payload[..]);
    if let Some(k) = &msg.key {
        record = record.key(&k[..]);
    }
    if let Some(p) = msg.partition {
        record = record.partition(p);
    }
    if let Some(ts) = msg.timestamp {
        record = record.timestamp(ts);
    }
    if !msg.headers.is_empty() {
        record = record.headers(headers);
    }
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((
                KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                r,
            )) if Instant::now() < deadline => {
                record = r;
                thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => panic!("enqueue message {seq} to {topic}: {e}"),
        }
    }
}

/// Produces every message of `msgs` to `topic`, waits for all delivery reports and returns them
/// indexed by position in `msgs`.
pub fn produce_all(cfg: &ClientConfig, topic: &str, msgs: &[Outgoing]) -> Vec<Delivery> {
    let (producer, collector) = collecting_producer(cfg);
    for (i, m) in msgs.iter().enumerate() {
        send(&producer, topic, i, m);
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush producer");
    wait_until(CLIENT_TIMEOUT, "all delivery reports", || {
        collector.count() == msgs.len()
    });
    let mut reports = collector.reports();
    reports.sort_by_key(|d| d.seq);
    reports
}

/// Produces `msgs` and panics unless every message was acknowledged; returns
/// `(partition, offset)` per message.
pub fn produce_ok(cfg: &ClientConfig, topic: &str, msgs: &[Outgoing]) -> Vec<(i32, i64)> {
    produce_all(cfg, topic, msgs)
        .into_iter()
        .map(|d| {
            d.result
                .unwrap_or_else(|e| panic!("message {} to {topic} not delivered: {e}", d.seq))
        })
        .collect()
}

/// `n` messages with keys `key-<i>` and payloads `<topic>-<i>-<padding>`, spread round-robin
/// over `partitions` partitions; returns their `(partition, offset)`.
pub fn produce_n(bootstrap: &str, topic: &str, n: usize, partitions: i32) -> Vec<(i32, i64)> {
    let msgs = numbered_messages(topic, n, partitions);
    produce_ok(&producer_config(bootstrap, "none"), topic, &msgs)
}

/// `n` numbered messages spread round-robin over `partitions` partitions.
pub fn numbered_messages(prefix: &str, n: usize, partitions: i32) -> Vec<Outgoing> {
    (0..n)
        .map(|i| {
            Outgoing::new(
                (i % partitions as usize) as i32,
                format!("key-{i}"),
                format!("{prefix}-{i}-{}", "x".repeat(i % 50)),
            )
        })
        .collect()
}

/// One consumed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads partitions of `topic` with an assigned consumer (no group) from the given start offset
/// up to (excluding) the given end offset. Panics on any consumer error, on a record past the
/// end, or if the end is not reached within [`CLIENT_TIMEOUT`]. Returns the records per
/// partition in the order received.
pub fn consume_range(
    bootstrap: &str,
    topic: &str,
    ranges: &BTreeMap<i32, (i64, i64)>,
) -> BTreeMap<i32, Vec<Consumed>> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create consumer");
    let mut tpl = TopicPartitionList::new();
    let mut out: BTreeMap<i32, Vec<Consumed>> = BTreeMap::new();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (&p, &(start, end)) in ranges {
        out.insert(p, Vec::new());
        if end > start {
            tpl.add_partition_offset(topic, p, Offset::Offset(start))
                .expect("add partition");
        }
        next.insert(p, start);
    }
    consumer.assign(&tpl).expect("assign");
    let done = |next: &BTreeMap<i32, i64>| next.iter().all(|(p, n)| *n >= ranges[p].1);
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while !done(&next) {
        assert!(
            Instant::now() < deadline,
            "consuming {topic}: timed out; reached {next:?}, wanted {ranges:?}"
        );
        let Some(res) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = res.unwrap_or_else(|e| panic!("consumer error on {topic}: {e}"));
        let p = m.partition();
        let end = ranges.get(&p).map(|r| r.1).expect("partition assigned");
        assert!(
            m.offset() < end,
            "{topic}/{p}: got offset {} past the end {end}",
            m.offset()
        );
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        out.get_mut(&p).unwrap().push(Consumed {
            partition: p,
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            timestamp: m.timestamp().to_millis(),
            headers,
        });
        next.insert(p, m.offset() + 1);
    }
    out
}

/// Reads every partition of `topic` from its low to its high watermark.
pub fn consume_all(bootstrap: &str, topic: &str) -> BTreeMap<i32, Vec<Consumed>> {
    let ranges = watermarks(bootstrap, topic);
    consume_range(bootstrap, topic, &ranges)
}

/// `(low, high)` watermarks of every partition of `topic` (ListOffsets earliest and latest).
pub fn watermarks(bootstrap: &str, topic: &str) -> BTreeMap<i32, (i64, i64)> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create consumer");
    let n = partition_count(&consumer, topic)
        .unwrap_or_else(|| panic!("topic {topic} not in metadata"));
    (0..n as i32)
        .map(|p| {
            let wm = consumer
                .fetch_watermarks(topic, p, CLIENT_TIMEOUT)
                .unwrap_or_else(|e| panic!("watermarks {topic}/{p}: {e}"));
            (p, wm)
        })
        .collect()
}

/// Number of partitions of `topic` in the broker's metadata, or `None` if it is not listed.
pub fn partition_count<C: Consumer>(client: &C, topic: &str) -> Option<usize> {
    let md = client
        .fetch_metadata(Some(topic), CLIENT_TIMEOUT)
        .expect("fetch metadata");
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() {
        return None;
    }
    Some(t.partitions().len())
}

/// Names of all topics in the broker's metadata.
pub fn topic_names(bootstrap: &str) -> Vec<String> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create consumer");
    let md = consumer
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .expect("fetch metadata");
    let mut names: Vec<String> = md.topics().iter().map(|t| t.name().to_string()).collect();
    names.sort();
    names
}

/// Waits until the metadata lists `topic` with exactly `partitions` partitions.
pub fn wait_for_partitions(bootstrap: &str, topic: &str, partitions: usize) {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("create consumer");
    wait_until(
        CLIENT_TIMEOUT,
        &format!("{topic} has {partitions} partitions"),
        || partition_count(&consumer, topic) == Some(partitions),
    );
}

/// Every acknowledged record of partition 0 of `topic` is read back exactly once, in order, at
/// its acknowledged offset (`acked[i].seq` indexes `msgs`).
pub fn assert_acked_records_kept(
    bootstrap: &str,
    topic: &str,
    msgs: &[Outgoing],
    acked: &[Delivery],
) {
    let consumed = consume_all(bootstrap, topic);
    let records = consumed.get(&0).cloned().unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.offset, i as i64, "offsets are dense");
        let payload = r.payload.clone().unwrap_or_default();
        assert!(
            seen.insert(payload),
            "record at {} is a duplicate",
            r.offset
        );
    }
    for d in acked {
        let Ok((_, offset)) = d.result else { continue };
        let r = records
            .get(offset as usize)
            .unwrap_or_else(|| panic!("acknowledged offset {offset} is gone"));
        assert_eq!(
            r.payload.as_deref(),
            Some(&msgs[d.seq].payload[..]),
            "the record acknowledged at {offset}"
        );
    }
    let mut offsets: Vec<(usize, i64)> = acked
        .iter()
        .filter_map(|d| d.result.as_ref().ok().map(|(_, o)| (d.seq, *o)))
        .collect();
    offsets.sort_unstable();
    assert!(
        offsets.windows(2).all(|w| w[0].1 < w[1].1),
        "acknowledged in the order sent: {offsets:?}"
    );
}
