//! `failover`: how long producers wait when a partition leader dies. An idempotent
//! `acks=all` producer writes at a fixed rate to partition 0 of a replicated topic; after the
//! warm-up the leader of that partition is killed with SIGKILL (its pid given by
//! `--broker-pids`), and the run measures the time from the kill to the acknowledgement of
//! the first record sent after it (a record already in flight may still be acknowledged
//! by the dying leader), and the longest gap between two acknowledgements. Every record
//! sent must end up acknowledged (the producer retries through the failover); a failed
//! delivery counts as an error.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::client::{self, Property};
use crate::report::Report;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "fjord-bench-failover")]
    pub topic: String,
    /// Broker id to pid of every broker that may lead the partition: `0=1234,1=1235,...`.
    #[arg(long, value_parser = parse_pids)]
    pub broker_pids: BTreeMap<i32, u32>,
    /// Messages per second, spread evenly in time.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// Seconds sent before the kill.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Seconds sent after the first acknowledgement that follows the kill.
    #[arg(long, default_value_t = 2.0)]
    pub tail: f64,
    /// Give up when nothing is acknowledged this many seconds after the kill.
    #[arg(long, default_value_t = 60.0)]
    pub give_up: f64,
    #[arg(long, default_value_t = 100)]
    pub message_size: usize,
    /// Replication factor when the topic is created (one partition).
    #[arg(long, default_value_t = 3)]
    pub replication_factor: i32,
    /// Topic config used when the topic is created, e.g. `min.insync.replicas=2`.
    #[arg(long = "topic-config", value_name = "KEY=VALUE")]
    pub topic_configs: Vec<Property>,
    /// Extra librdkafka property, `-X key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub props: Vec<Property>,
}

fn parse_pids(s: &str) -> Result<BTreeMap<i32, u32>, String> {
    s.split(',')
        .map(|pair| {
            let (id, pid) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not ID=PID"))?;
            let id = id
                .trim()
                .parse()
                .map_err(|e| format!("broker id {id}: {e}"))?;
            let pid = pid.trim().parse().map_err(|e| format!("pid {pid}: {e}"))?;
            Ok((id, pid))
        })
        .collect()
}

/// (send time, acknowledgement time) of every acknowledged record, since the run's clock
/// started, and the failures.
#[derive(Default)]
struct Acks {
    times: Mutex<Vec<(Duration, Duration)>>,
    failed: Mutex<(u64, Option<String>)>,
}

struct Tracker {
    clock: Instant,
    acks: Acks,
}

impl ClientContext for Tracker {}

impl ProducerContext for Tracker {
    /// The record's send time, in microseconds since the run's clock started.
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, sent_us: usize) {
        match result {
            Ok(_) => {
                if let Ok(mut t) = self.acks.times.lock() {
                    let sent = Duration::from_micros(sent_us as u64);
                    t.push((sent, self.clock.elapsed()));
                }
            }
            Err((err, _)) => {
                if let Ok(mut f) = self.acks.failed.lock() {
                    f.0 += 1;
                    f.1.get_or_insert_with(|| err.to_string());
                }
            }
        }
    }
}

pub fn run(bootstrap: &str, args: &Args) -> anyhow::Result<Report> {
    if args.rate == 0 {
        bail!("--rate must be positive");
    }
    client::ensure_topic(
        bootstrap,
        &args.topic,
        1,
        args.replication_factor,
        &args.props,
        &args.topic_configs,
    )?;
    let settings = [
        ("acks", "all".to_string()),
        ("enable.idempotence", "true".to_string()),
        ("linger.ms", "0".to_string()),
        // Retry through the failover for as long as the run may take.
        ("message.timeout.ms", "300000".to_string()),
    ];
    let context = Tracker {
        clock: Instant::now(),
        acks: Acks::default(),
    };
    let producer: BaseProducer<Tracker> = client::config(bootstrap, &settings, &args.props)
        .create_with_context(context)
        .context("cannot create the producer")?;
    let clock = producer.context().clock;
    let payload = vec![b'f'; args.message_size];
    let mut sent = 0u64;
    let send_due = |producer: &BaseProducer<Tracker>, sent: &mut u64| {
        while clock + Duration::from_secs_f64(*sent as f64 / args.rate as f64) <= Instant::now() {
            let sent_us = usize::try_from(clock.elapsed().as_micros()).unwrap_or(usize::MAX);
            let record = BaseRecord::<(), [u8], usize>::with_opaque_to(&args.topic, sent_us)
                .partition(0)
                .payload(&payload);
            if producer.send(record).is_err() {
                // The local queue is full: let deliveries drain it.
                break;
            }
            *sent += 1;
        }
        producer.poll(Duration::from_millis(1));
    };

    let warmup = Duration::from_secs_f64(args.warmup);
    while clock.elapsed() < warmup {
        send_due(&producer, &mut sent);
    }
    let leader = leader_of_partition_0(&producer, &args.topic)?;
    let pid = *args
        .broker_pids
        .get(&leader)
        .with_context(|| format!("no pid given for broker {leader}, the leader"))?;
    let acked_before = producer.context().acks.times.lock().map_or(0, |t| t.len());
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("kill -KILL {pid} failed");
    }
    let killed_at = clock.elapsed();
    eprintln!("fjord-bench: killed broker {leader} (pid {pid}) at {killed_at:?}");

    let give_up = killed_at + Duration::from_secs_f64(args.give_up);
    let tail = Duration::from_secs_f64(args.tail);
    let first_after = loop {
        send_due(&producer, &mut sent);
        let first = producer.context().acks.times.lock().ok().and_then(|t| {
            t.iter()
                .filter(|(sent, _)| *sent > killed_at)
                .map(|(_, acked)| *acked)
                .min()
        });
        if let Some(first) = first {
            if clock.elapsed() >= first + tail {
                break first;
            }
        }
        if clock.elapsed() > give_up {
            bail!("nothing acknowledged within {:?} of the kill", args.give_up);
        }
    };
    let flushed = producer.flush(Duration::from_secs(60));
    let new_leader = leader_of_partition_0(&producer, &args.topic).unwrap_or(-1);

    let acks = &producer.context().acks;
    let times = acks.times.lock().map(|t| t.clone()).unwrap_or_default();
    let (failed, first_error) = acks.failed.lock().map(|f| f.clone()).unwrap_or_default();
    if let Some(e) = &first_error {
        eprintln!("fjord-bench: delivery failed: {e}");
    }
    let mut acked: Vec<Duration> = times.iter().map(|(_, at)| *at).collect();
    acked.sort();
    let max_gap = acked
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or_default();
    let mut report = Report::new("failover", bootstrap, &args.topic);
    let elapsed = clock.elapsed().as_secs_f64();
    report.counted(
        times.len() as u64,
        times.len() as u64 * args.message_size as u64,
        elapsed,
    );
    report.cpu_bytes = sent * args.message_size as u64;
    report.errors = failed + sent.saturating_sub(times.len() as u64);
    if flushed.is_err() {
        eprintln!("fjord-bench: some records were still unacknowledged after 60 s");
    }
    report.set("rate", args.rate);
    report.set("replication_factor", args.replication_factor);
    report.set("killed_leader", leader);
    report.set("new_leader", new_leader);
    report.set("acked_before_kill", acked_before);
    report.set(
        "failover_ms",
        format!("{:.0}", (first_after - killed_at).as_secs_f64() * 1000.0),
    );
    report.set(
        "max_ack_gap_ms",
        format!("{:.0}", max_gap.as_secs_f64() * 1000.0),
    );
    Ok(report)
}

/// The leader of partition 0 of `topic` as the cluster's metadata says now.
fn leader_of_partition_0(producer: &BaseProducer<Tracker>, topic: &str) -> anyhow::Result<i32> {
    let md = producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("metadata")?;
    md.topics()
        .iter()
        .find(|t| t.name() == topic)
        .and_then(|t| t.partitions().iter().find(|p| p.id() == 0))
        .map(|p| p.leader())
        .filter(|l| *l >= 0)
        .with_context(|| format!("partition 0 of {topic} has no leader"))
}
