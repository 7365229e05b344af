//! `produce`: send as fast as librdkafka will take messages; throughput and the time from
//! send to acknowledgement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use crate::client::{self, Property};
use crate::report::{Percentiles, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "fjord-bench")]
    pub topic: String,
    /// Value size in bytes (messages have no key).
    #[arg(long, default_value_t = 1024)]
    pub message_size: usize,
    /// Messages to send (default 1,000,000 unless --duration is given).
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Send for this many seconds instead of a count.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Partitions when the topic is created (an existing topic keeps its own).
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Replication factor when the topic is created.
    #[arg(long, default_value_t = 1)]
    pub replication_factor: i32,
    /// `0`, `1` or `all`.
    #[arg(long, default_value = "1")]
    pub acks: String,
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_size: u64,
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compression: Compression,
    /// Idempotent producer (needs `--acks all`).
    #[arg(long)]
    pub idempotence: bool,
    /// Extra librdkafka property, `-X key=value` (repeatable; wins over the flags above).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub props: Vec<Property>,
    /// Topic config used when the topic is created, e.g. `--topic-config compression.type=zstd`
    /// to measure broker-side recompression (repeatable).
    #[arg(long = "topic-config", value_name = "KEY=VALUE")]
    pub topic_configs: Vec<Property>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Counts deliveries and their latencies. librdkafka calls `delivery` from `poll`, which
/// only the sending thread calls, so the mutex is never contended.
struct Deliveries {
    clock: Instant,
    delivered: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    latencies_us: Mutex<Vec<u64>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    /// Nanoseconds since `clock` at send: a plain integer, so no allocation per message.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now_ns = self.clock.elapsed().as_nanos() as usize;
        match result {
            Ok(msg) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                let len = msg.payload_len() + msg.key_len();
                self.bytes.fetch_add(len as u64, Ordering::Relaxed);
                if let Ok(mut l) = self.latencies_us.lock() {
                    l.push((now_ns.saturating_sub(sent_ns) / 1000) as u64);
                }
            }
            Err((err, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| err.to_string());
                }
            }
        }
    }
}

pub fn run(bootstrap: &str, args: &Args) -> anyhow::Result<Report> {
    let partitions = client::ensure_topic(
        bootstrap,
        &args.topic,
        args.partitions,
        args.replication_factor,
        &args.props,
        &args.topic_configs,
    )?;
    let settings = [
        ("acks", args.acks.clone()),
        ("linger.ms", args.linger_ms.to_string()),
        ("batch.size", args.batch_size.to_string()),
        ("compression.codec", args.compression.name().to_string()),
        ("enable.idempotence", args.idempotence.to_string()),
        // Enough queue that the sender, not the queue limit, paces a run of small messages.
        ("queue.buffering.max.messages", "2000000".to_string()),
        ("queue.buffering.max.kbytes", "2097151".to_string()),
    ];
    let context = Deliveries {
        clock: Instant::now(),
        delivered: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        first_error: Mutex::new(None),
        latencies_us: Mutex::new(Vec::new()),
    };
    let producer: BaseProducer<Deliveries> = client::config(bootstrap, &settings, &args.props)
        .create_with_context(context)
        .context("cannot create the producer")?;

    let count = match (args.count, args.duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(1_000_000),
    };
    let duration = args.duration.map(Duration::from_secs_f64);
    let payloads = client::payloads(args.message_size, 64);

    let started = Instant::now();
    let sent = send_all(
        &producer,
        &args.topic,
        partitions,
        &payloads,
        count,
        duration,
        started,
    )?;
    producer
        .flush(Duration::from_secs(120))
        .context("not every message was acknowledged within 120 s of the last send")?;
    let elapsed = started.elapsed().as_secs_f64();

    let ctx = producer.context();
    let delivered = ctx.delivered.load(Ordering::Relaxed);
    let mut report = Report::new("produce", bootstrap, &args.topic);
    report.counted(delivered, ctx.bytes.load(Ordering::Relaxed), elapsed);
    report.errors = ctx.failed.load(Ordering::Relaxed);
    if let Ok(mut first) = ctx.first_error.lock() {
        if let Some(err) = first.take() {
            eprintln!(
                "fjord-bench: {} of {sent} deliveries failed, first: {err}",
                report.errors
            );
        }
    }
    let latencies = ctx.latencies_us.lock().map(|mut l| std::mem::take(&mut *l));
    report.latency_ms = Percentiles::from_micros(latencies.unwrap_or_default());
    report.set("message_size", args.message_size);
    report.set("partitions", partitions);
    for (k, v) in &settings[..5] {
        report.set(k, v);
    }
    Ok(report)
}

/// Sends round-robin over the partitions until `count` messages or `duration`; returns how
/// many were sent. A full local queue is waited out by serving delivery reports.
fn send_all(
    producer: &BaseProducer<Deliveries>,
    topic: &str,
    partitions: i32,
    payloads: &[Vec<u8>],
    count: Option<u64>,
    duration: Option<Duration>,
    started: Instant,
) -> anyhow::Result<u64> {
    let clock = producer.context().clock;
    let mut sent: u64 = 0;
    loop {
        if count.is_some_and(|n| sent >= n) {
            break;
        }
        if sent % 1024 == 0 {
            if duration.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
            producer.poll(Duration::ZERO);
        }
        let payload = &payloads[(sent % payloads.len() as u64) as usize];
        let sent_ns = clock.elapsed().as_nanos() as usize;
        let record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, sent_ns)
            .payload(payload.as_slice())
            .partition((sent % partitions as u64) as i32);
        match producer.send(record) {
            Ok(()) => sent += 1,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(1));
            }
            Err((err, _)) => bail!("send failed after {sent} messages: {err}"),
        }
    }
    Ok(sent)
}
