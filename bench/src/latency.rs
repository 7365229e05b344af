//! `latency`: end to end at a fixed rate. The producer writes its send time into each
//! payload; a consumer in the same process subtracts it from the time of receipt, so both
//! ends read one monotonic clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::client::{self, Property};
use crate::report::{Percentiles, Report};

/// Bytes of the payload that carry the send time.
const STAMP: usize = 8;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "fjord-bench-latency")]
    pub topic: String,
    /// Messages per second, spread evenly in time.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds sent at the rate before measuring (connections, first fetches); not counted.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Value size in bytes (at least 8: the send time).
    #[arg(long, default_value_t = 100)]
    pub message_size: usize,
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Replication factor when the topic is created.
    #[arg(long, default_value_t = 1)]
    pub replication_factor: i32,
    /// `0`, `1` or `all`.
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// 0 by default: latency, not batching, is what this mode measures. With 5 every message
    /// waits up to 5 ms for its batch to fill before it is even sent.
    #[arg(long, default_value_t = 0)]
    pub linger_ms: u64,
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_size: u64,
    #[arg(long)]
    pub idempotence: bool,
    /// Extra librdkafka property for both clients, `-X key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub props: Vec<Property>,
}

/// Counts failed deliveries; the latency that matters is measured by the consumer.
struct Failures(AtomicU64);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((err, _)) = result {
            if self.0.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("fjord-bench: delivery failed: {err}");
            }
        }
    }
}

/// What the consumer saw.
struct Received {
    latencies_us: Vec<u64>,
    bytes: u64,
    errors: u64,
}

pub fn run(bootstrap: &str, args: &Args) -> anyhow::Result<Report> {
    if args.message_size < STAMP {
        bail!("--message-size must be at least {STAMP} bytes to carry the send time");
    }
    if args.rate == 0 {
        bail!("--rate must be positive");
    }
    let partitions = client::ensure_topic(
        bootstrap,
        &args.topic,
        args.partitions,
        args.replication_factor,
        &args.props,
        &[],
    )?;
    let consumer = positioned_consumer(bootstrap, args, partitions)?;
    let producer_settings = [
        ("acks", args.acks.clone()),
        ("linger.ms", args.linger_ms.to_string()),
        ("batch.size", args.batch_size.to_string()),
        ("enable.idempotence", args.idempotence.to_string()),
    ];
    let producer: BaseProducer<Failures> =
        client::config(bootstrap, &producer_settings, &args.props)
            .create_with_context(Failures(AtomicU64::new(0)))
            .context("cannot create the producer")?;

    let clock = Instant::now();
    let measure_from = Duration::from_secs_f64(args.warmup);
    let total = Duration::from_secs_f64(args.warmup + args.duration);
    // u64::MAX until the producer knows how many measured messages it sent.
    let expected = AtomicU64::new(u64::MAX);
    let (sent, measured_sent, received) = std::thread::scope(|s| {
        let receiver = s.spawn(|| receive(&consumer, clock, measure_from, &expected));
        let sent = send_at_rate(&producer, args, partitions, clock, measure_from, total);
        if let Ok((_, measured)) = &sent {
            expected.store(*measured, Ordering::Release);
        } else {
            expected.store(0, Ordering::Release);
        }
        let received = receiver.join();
        sent.map(|(all, measured)| (all, measured, received))
    })?;
    let received = received.map_err(|_| anyhow::anyhow!("the consumer thread panicked"))??;

    let failed = producer.context().0.load(Ordering::Relaxed);
    let mut report = Report::new("latency", bootstrap, &args.topic);
    report.counted(
        received.latencies_us.len() as u64,
        received.bytes,
        args.duration,
    );
    report.cpu_bytes = sent * args.message_size as u64;
    report.errors = failed + received.errors + measured_sent.saturating_sub(report.messages);
    report.latency_ms = Percentiles::from_micros(received.latencies_us);
    report.set("rate", args.rate);
    report.set("message_size", args.message_size);
    report.set("partitions", partitions);
    for (k, v) in &producer_settings {
        report.set(k, v);
    }
    Ok(report)
}

/// A consumer assigned every partition at its current end, before anything is sent, so it
/// sees every message of the run and none from before.
fn positioned_consumer(
    bootstrap: &str,
    args: &Args,
    partitions: i32,
) -> anyhow::Result<BaseConsumer> {
    let settings = [
        (
            "group.id",
            format!("fjord-bench-latency-{}", std::process::id()),
        ),
        ("enable.auto.commit", "false".to_string()),
    ];
    let consumer: BaseConsumer = client::config(bootstrap, &settings, &args.props)
        .create()
        .context("cannot create the consumer")?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        let (_, high) = consumer
            .fetch_watermarks(&args.topic, p, Duration::from_secs(10))
            .with_context(|| format!("cannot read the end offset of partition {p}"))?;
        assignment.add_partition_offset(&args.topic, p, Offset::Offset(high))?;
    }
    consumer.assign(&assignment).context("assign failed")?;
    Ok(consumer)
}

/// Sends message `i` at `i / rate` seconds, stamping the time it really went; returns
/// (messages sent, messages sent after the warm-up).
fn send_at_rate(
    producer: &BaseProducer<Failures>,
    args: &Args,
    partitions: i32,
    clock: Instant,
    measure_from: Duration,
    total: Duration,
) -> anyhow::Result<(u64, u64)> {
    let mut payload = client::payloads(args.message_size, 1).remove(0);
    let (mut sent, mut measured) = (0u64, 0u64);
    let mut i: u64 = 0;
    loop {
        let due = Duration::from_secs_f64(i as f64 / args.rate as f64);
        if due >= total {
            break;
        }
        let now = clock.elapsed();
        if let Some(wait) = due.checked_sub(now) {
            std::thread::sleep(wait);
        }
        let stamp = clock.elapsed();
        payload[..STAMP].copy_from_slice(&(stamp.as_nanos() as u64).to_le_bytes());
        let record = BaseRecord::<(), [u8], ()>::to(&args.topic)
            .payload(payload.as_slice())
            .partition((i % partitions as u64) as i32);
        match producer.send(record) {
            Ok(()) => {
                sent += 1;
                if stamp >= measure_from {
                    measured += 1;
                }
                i += 1;
            }
            // Resent with a fresh stamp: time spent in a full queue is not the broker's.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(1));
            }
            Err((err, _)) => bail!("send failed after {sent} messages: {err}"),
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .context("not every message was acknowledged within 60 s")?;
    Ok((sent, measured))
}

/// Receives until the producer's measured count has arrived, or nothing has for 10 s.
fn receive(
    consumer: &BaseConsumer,
    clock: Instant,
    measure_from: Duration,
    expected: &AtomicU64,
) -> anyhow::Result<Received> {
    let measure_from_ns = measure_from.as_nanos() as u64;
    let mut got = Received {
        latencies_us: Vec::new(),
        bytes: 0,
        errors: 0,
    };
    let mut last_seen = Instant::now();
    while (got.latencies_us.len() as u64) < expected.load(Ordering::Acquire) {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(msg)) => {
                let now_ns = clock.elapsed().as_nanos() as u64;
                last_seen = Instant::now();
                let Some(stamp) = msg.payload().and_then(|p| p.get(..STAMP)) else {
                    got.errors += 1;
                    continue;
                };
                let mut sent_ns = [0u8; STAMP];
                sent_ns.copy_from_slice(stamp);
                let sent_ns = u64::from_le_bytes(sent_ns);
                if sent_ns >= measure_from_ns {
                    got.latencies_us.push(now_ns.saturating_sub(sent_ns) / 1000);
                    got.bytes += (msg.payload_len() + msg.key_len()) as u64;
                }
            }
            Some(Err(err)) => {
                got.errors += 1;
                eprintln!("fjord-bench: consumer error: {err}");
            }
            None => {}
        }
        if last_seen.elapsed() > Duration::from_secs(10) {
            let expected = expected.load(Ordering::Acquire);
            if expected == u64::MAX {
                // Still sending, and nothing arrives: the broker or consumer is stuck.
                bail!("no message received for 10 s while the producer was sending");
            }
            eprintln!(
                "fjord-bench: gave up waiting after {} of {expected} measured messages",
                got.latencies_us.len()
            );
            break;
        }
    }
    Ok(got)
}
