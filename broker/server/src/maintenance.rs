//! Background work on partition logs: time-based rolls, timed flushes (`flush.ms`,
//! inside `maybe_roll`, which also fsyncs rolled segments off the append lock), retention,
//! the log cleaner threads (compaction, started here, see [`spawn_cleaner`]), scrubbing (CRC checks of the data found on disk at start, at a bounded rate),
//! and retrying partitions that could not be opened (disk full, too many open files) so they
//! come online by themselves.
//!
//! It runs on a blocking thread per pass, so appends and fetches never wait on it;
//! the storage layer lets retention delete sealed segments while readers hold them.

use crate::api::now_ms;
use crate::broker::Broker;
use crate::partition::Partition;
use crate::shutdown::Shutdown;
use fjord_storage::{CleanerConfig, CleanerThreads, Log, LogSource};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often rolls and timed flushes are checked (Kafka's scheduler runs similarly often).
const TICK: Duration = Duration::from_millis(500);
/// How often offline partitions are tried again: often enough that freeing space brings
/// them back within seconds, rarely enough that a full disk is not hammered.
const OFFLINE_RETRY: Duration = Duration::from_secs(2);

/// Bytes CRC-checked per tick by the scrubber (16 MiB/s): a background read rate that leaves
/// the disk to producers and consumers, while a broker's data found at start is still checked
/// within the hour for tens of GiB. Reads check unscrubbed batches themselves anyway.
const SCRUB_BYTES_PER_TICK: u64 = 8 << 20;

/// Where the scrubber is: the partition it works on next, and whether every log opened at
/// start was checked (data appended since is validated on the way in and needs no scrub).
#[derive(Default)]
struct Scrubber {
    next: usize,
    done: bool,
}
/// A partition seen by the cleaner threads as its log.
struct CleanerView(Arc<Partition>);

impl AsRef<Log> for CleanerView {
    fn as_ref(&self) -> &Log {
        &self.0.log
    }
}

/// Starts `log.cleaner.threads` cleaner threads over every partition of the broker (Kafka's
/// `LogCleaner`): std threads, so cleaning never occupies the async runtime. `None` with
/// zero threads, or if a thread could not start (logged; compaction then waits for a restart).
pub fn spawn_cleaner(broker: &Arc<Broker>) -> Option<CleanerThreads> {
    spawn_cleaner_with(broker, broker.live_config().cleaner)
}

fn spawn_cleaner_with(broker: &Arc<Broker>, config: CleanerConfig) -> Option<CleanerThreads> {
    if config.threads == 0 {
        return None;
    }
    let weak: Weak<Broker> = Arc::downgrade(broker);
    let source: LogSource = Arc::new(move || match weak.upgrade() {
        Some(b) => b
            .all_partitions()
            .into_iter()
            .map(|p| Arc::new(CleanerView(p)) as Arc<dyn AsRef<Log> + Send + Sync>)
            .collect(),
        None => Vec::new(),
    });
    match CleanerThreads::spawn(config, source, Arc::new(now_ms)) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the log cleaner threads");
            None
        }
    }
}

pub async fn run(broker: Arc<Broker>, mut shutdown: Shutdown) {
    let mut cleaner = Cleaner {
        config: broker.live_config().cleaner,
        threads: None,
    };
    cleaner.threads = spawn_cleaner_with(&broker, cleaner.config);
    run_ticks(&broker, &mut shutdown, &mut cleaner).await;
    stop_cleaner(cleaner.threads.take()).await;
}

/// The running cleaner threads and the settings they were started with.
struct Cleaner {
    config: CleanerConfig,
    threads: Option<CleanerThreads>,
}

async fn stop_cleaner(threads: Option<CleanerThreads>) {
    if let Some(c) = threads {
        // Joining waits for a pass to reach its next batch.
        let _ = crate::blocking::spawn(move || c.shutdown()).await;
    }
}

/// Restarts the cleaner threads when the dynamic `log.cleaner.*` configs changed, as
/// Kafka's `LogCleaner.reconfigure` does: a pass in progress finishes its batch, and the
/// new threads pick the logs up again from their checkpoints.
async fn reconfigure_cleaner(broker: &Arc<Broker>, cleaner: &mut Cleaner) {
    let wanted = broker.live_config().cleaner;
    if wanted == cleaner.config {
        return;
    }
    stop_cleaner(cleaner.threads.take()).await;
    cleaner.threads = spawn_cleaner_with(broker, wanted);
    cleaner.config = wanted;
    tracing::info!(
        threads = wanted.threads,
        io_max_bytes_per_second = wanted.io_max_bytes_per_second,
        "log cleaner restarted with new settings"
    );
}

async fn run_ticks(broker: &Arc<Broker>, shutdown: &mut Shutdown, cleaner: &mut Cleaner) {
    let retention_every = Duration::from_millis(broker.config.retention_check_interval_ms.max(1));
    let mut last_retention = tokio::time::Instant::now();
    let mut last_offline_retry = tokio::time::Instant::now();
    let scrubber = Arc::new(parking_lot::Mutex::new(Scrubber::default()));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.recv() => return,
        }
        reconfigure_cleaner(broker, cleaner).await;
        let retention_due = last_retention.elapsed() >= retention_every;
        if retention_due {
            last_retention = tokio::time::Instant::now();
        }
        let retry_due = last_offline_retry.elapsed() >= OFFLINE_RETRY;
        if retry_due {
            last_offline_retry = tokio::time::Instant::now();
        }
        let b = Arc::clone(broker);
        let s = scrubber.clone();
        let _ = crate::blocking::spawn(move || {
            if retry_due {
                b.retry_offline();
            }
            pass(&b, retention_due);
            scrub(&b, &mut s.lock());
        })
        .await;
    }
}

fn pass(broker: &Broker, retention_due: bool) {
    let now = now_ms();
    for p in broker.all_partitions() {
        if let Err(e) = p.log.maybe_roll(now) {
            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "time-based roll failed");
            if let Some(reason) = p.log.failure() {
                broker.take_offline(&p, &reason);
            }
        }
        if retention_due && p.log.config().deletes() {
            match p.log.apply_retention(now) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(topic = %p.topic, partition = p.index, segments = n, log_start_offset = p.log.log_start_offset(), "retention deleted segments")
                }
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
                }
            }
        }
    }
}

/// Checks up to [`SCRUB_BYTES_PER_TICK`] bytes, continuing where the last tick stopped. A
/// corrupt batch is logged by the storage layer with its file and position; reads of it fail.
fn scrub(broker: &Broker, state: &mut Scrubber) {
    if state.done {
        return;
    }
    let partitions = broker.all_partitions();
    let mut budget = SCRUB_BYTES_PER_TICK;
    let mut finished_in_a_row = 0;
    while budget > 0 && finished_in_a_row < partitions.len() {
        let p = &partitions[state.next % partitions.len()];
        match p.log.scrub(budget) {
            Ok(progress) => {
                budget = budget.saturating_sub(progress.bytes_checked);
                if !progress.done {
                    return;
                }
                finished_in_a_row += 1;
            }
            Err(e) => {
                // Reported once per corrupt batch; the next pass over this log goes past it.
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "scrub found a problem");
                budget = budget.saturating_sub(1 << 20);
            }
        }
        state.next = (state.next + 1) % partitions.len();
    }
    if !partitions.is_empty() && finished_in_a_row >= partitions.len() {
        tracing::info!(
            partitions = partitions.len(),
            "scrub of the logs found at start finished"
        );
        state.done = true;
    }
}
