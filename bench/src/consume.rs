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
    /// Consumers in parallel (assign mode): thread i reads the partitions p with
    /// p % threads == i, like kafka-consumer-perf-test's `--threads`. One librdkafka
    /// consumer polls one message at a time, which caps a single thread well below what the
    /// broker serves for small messages.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Give up when no message arrives for this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub idle_timeout: f64,
    /// Extra librdkafka property, `-X key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub props: Vec<Property>,
}

pub fn run(bootstrap: &str, args: &Args) -> anyhow::Result<Report> {
    let partitions = client::existing_partitions(bootstrap, &args.topic, &args.props)?;
    if args.group.is_some() && args.threads > 1 {
        bail!("--threads applies to assign mode; a group shares partitions by itself");
    }
    let threads = args.threads.clamp(1, partitions.max(1) as usize);
    let group = match &args.group {
        Some(g) => format!("{g}-{}", unique_suffix()),
        // librdkafka wants a group.id even for a consumer that only assigns.
        None => format!("fjord-bench-assign-{}", unique_suffix()),
    };
    let tallies: Vec<anyhow::Result<Tally>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let mine: Vec<i32> = (0..partitions)
                    .filter(|p| *p as usize % threads == i)
                    .collect();
                let group = group.clone();
                scope.spawn(move || consume_partitions(bootstrap, args, &group, &mine))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a consumer thread panicked")))
            })
            .collect()
    });
    let mut total = Tally::default();
    for t in tallies {
        total.merge(t?);
    }

    // Throughput is timed from the first message to the last: connection set-up and a
    // group's rebalance are not part of the rate.
    let elapsed = match (total.first, total.last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    let mut report = Report::new("consume", bootstrap, &args.topic);
    report.counted(total.messages, total.bytes, elapsed);
    report.errors = total.errors;
    report.set("partitions", partitions);
    report.set("threads", threads);
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

/// What one consumer read, and when its first and last message arrived.
#[derive(Default)]
struct Tally {
    messages: u64,
    bytes: u64,
    errors: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.first = [self.first, other.first].into_iter().flatten().min();
        self.last = [self.last, other.last].into_iter().flatten().max();
    }
}

/// One consumer: subscribes (group mode) or assigns `mine`, and reads until each of its
/// partitions reaches its end as of the start (or `--count`, split over the threads).
fn consume_partitions(
    bootstrap: &str,
    args: &Args,
    group: &str,
    mine: &[i32],
) -> anyhow::Result<Tally> {
    let settings = [
        ("group.id", group.to_string()),
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
    for &p in mine {
        let (low, high) = consumer
            .fetch_watermarks(&args.topic, p, Duration::from_secs(10))
            .with_context(|| format!("cannot read the offsets of partition {p}"))?;
        expected += (high - low).max(0) as u64;
    }
    let threads = args.threads.max(1) as u64;
    let target = args.count.map_or(expected, |c| c.div_ceil(threads));

    if args.group.is_some() {
        consumer
            .subscribe(&[&args.topic])
            .context("subscribe failed")?;
    } else {
        let mut assignment = TopicPartitionList::new();
        for &p in mine {
            assignment.add_partition_offset(&args.topic, p, Offset::Beginning)?;
        }
        consumer.assign(&assignment).context("assign failed")?;
    }
    // A group member may get any partition: wait for every one of them to end.
    let ends_needed = if args.group.is_some() {
        client::existing_partitions(bootstrap, &args.topic, &args.props)? as usize
    } else {
        mine.len()
    };

    let idle = Duration::from_secs_f64(args.idle_timeout);
    let mut tally = Tally::default();
    let mut last_seen = Instant::now();
    let mut at_end: HashSet<i32> = HashSet::new();
    while tally.messages < target {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                let now = Instant::now();
                last_seen = now;
                tally.first.get_or_insert(now);
                tally.last = Some(now);
                tally.messages += 1;
                tally.bytes += (msg.payload_len() + msg.key_len()) as u64;
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
                if args.count.is_none() && at_end.len() >= ends_needed {
                    break;
                }
            }
            Some(Err(err)) => {
                tally.errors += 1;
                eprintln!("fjord-bench: consumer error: {err}");
            }
            None => {}
        }
        if last_seen.elapsed() > idle {
            bail!(
                "no message for {idle:?} after {} of {target}",
                tally.messages
            );
        }
    }
    Ok(tally)
}

/// Distinct per run and process, so a group never resumes from an earlier run's offsets.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}
