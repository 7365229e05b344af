//! `consume`: read a topic from the earliest offset, by assignment or in a group.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::client::{self, Property};
use crate::report::Report;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "fjord-bench")]
    pub topic: String,
    /// Stop after this many messages (default: at the end of every partition as it was when
    /// the run started).
    #[arg(long)]
    pub count: Option<u64>,
    /// Consume in this consumer group (subscribe) instead of assigning every partition. A
    /// unique suffix is added so each run starts from earliest; offsets are not committed.
    #[arg(long)]
    pub group: Option<String>,
    /// Give up when no message arrives for this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub idle_timeout: f64,
    /// Extra librdkafka property, `-X key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub props: Vec<Property>,
}

pub fn run(bootstrap: &str, args: &Args) -> anyhow::Result<Report> {
    let partitions = client::existing_partitions(bootstrap, &args.topic, &args.props)?;
    let group = match &args.group {
        Some(g) => format!("{g}-{}", unique_suffix()),
        // librdkafka wants a group.id even for a consumer that only assigns.
        None => format!("fjord-bench-assign-{}", unique_suffix()),
    };
    let settings = [
        ("group.id", group.clone()),
        ("auto.offset.reset", "earliest".to_string()),
        ("enable.auto.commit", "false".to_string()),
        ("enable.partition.eof", "true".to_string()),
        // librdkafka stops fetching a partition whose local queue holds queued.min.messages
        // and then waits fetch.queue.backoff.ms (1 s by default) before fetching it again:
        // with 100 B messages that idled client and broker alike and capped the run at
        // ~250k msg/s. A benchmark measures the broker, so neither throttle applies.
        ("queued.min.messages", "1000000".to_string()),
        ("fetch.queue.backoff.ms", "0".to_string()),
    ];
    let consumer: BaseConsumer = client::config(bootstrap, &settings, &args.props)
        .create()
        .context("cannot create the consumer")?;

    // "The end" is each partition's high watermark now, so a producer running alongside
    // cannot keep the run going forever.
    let mut expected: u64 = 0;
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(&args.topic, p, Duration::from_secs(10))
            .with_context(|| format!("cannot read the offsets of partition {p}"))?;
        expected += (high - low).max(0) as u64;
    }
    let target = args.count.unwrap_or(expected);

    if args.group.is_some() {
        consumer
            .subscribe(&[&args.topic])
            .context("subscribe failed")?;
    } else {
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment.add_partition_offset(&args.topic, p, Offset::Beginning)?;
        }
        consumer.assign(&assignment).context("assign failed")?;
    }

    let idle = Duration::from_secs_f64(args.idle_timeout);
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let mut last_seen = Instant::now();
    let (mut messages, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut at_end: HashSet<i32> = HashSet::new();
    while messages < target {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                last = Instant::now();
                last_seen = last;
                first.get_or_insert(last);
                messages += 1;
                bytes += (msg.payload_len() + msg.key_len()) as u64;
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
                if args.count.is_none() && at_end.len() as i32 >= partitions {
                    break;
                }
            }
            Some(Err(err)) => {
                errors += 1;
                eprintln!("fjord-bench: consumer error: {err}");
            }
            None => {}
        }
        if last_seen.elapsed() > idle {
            bail!("no message for {idle:?} after {messages} of {target}");
        }
    }

    // Throughput is timed from the first message to the last: connection set-up and a
    // group's rebalance are not part of the rate.
    let elapsed = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    let mut report = Report::new("consume", bootstrap, &args.topic);
    report.counted(messages, bytes, elapsed);
    report.errors = errors;
    report.set("partitions", partitions);
    report.set(
        "mode",
        if args.group.is_some() {
            "group"
        } else {
            "assign"
        },
    );
    if args.group.is_some() {
        report.set("group.id", group);
    }
    Ok(report)
}

/// Distinct per run and process, so a group never resumes from an earlier run's offsets.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}
