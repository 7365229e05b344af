//! The cleaner threads (Kafka's `LogCleaner`): dedicated std threads, not the async runtime,
//! each with its own bounded offset map, cleaning the dirtiest log first and sleeping
//! `log.cleaner.backoff.ms` when nothing is cleanable.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{Cleaner, CleanerConfig};
use crate::log::Log;

/// Where the threads find the logs: called once per round, returns every open log.
pub type LogSource = Arc<dyn Fn() -> Vec<Arc<dyn AsRef<Log> + Send + Sync>> + Send + Sync>;

/// The clock the threads use for lags and tombstone horizons (milliseconds since the epoch).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A log that failed is left alone for this many backoffs, so one bad log does not take every
/// round (Kafka marks such a partition uncleanable).
const FAILED_BACKOFFS: u32 = 10;

struct Shared {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// Running cleaner threads; [`CleanerThreads::shutdown`] (or drop) stops and joins them.
pub struct CleanerThreads {
    shared: Arc<Shared>,
    stops: Vec<Arc<AtomicBool>>,
    handles: Vec<JoinHandle<()>>,
}

impl CleanerThreads {
    /// Starts `config.threads` threads named `log-cleaner-<n>`.
    pub fn spawn(
        config: CleanerConfig,
        logs: LogSource,
        clock: Clock,
    ) -> std::io::Result<CleanerThreads> {
        let shared = Arc::new(Shared {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let mut out = CleanerThreads {
            shared: shared.clone(),
            stops: Vec::new(),
            handles: Vec::new(),
        };
        for n in 0..config.threads.max(1) {
            let cleaner = Cleaner::new(config);
            out.stops.push(cleaner.stop_flag());
            let (shared, logs, clock) = (shared.clone(), logs.clone(), clock.clone());
            let handle = std::thread::Builder::new()
                .name(format!("log-cleaner-{n}"))
                .spawn(move || run(cleaner, &shared, &logs, &clock))?;
            out.handles.push(handle);
        }
        Ok(out)
    }

    /// Stops the threads (a pass in progress stops at its next batch) and waits for them.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        *self.shared.stopped.lock() = true;
        for s in &self.stops {
            s.store(true, Ordering::Release);
        }
        self.shared.wake.notify_all();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for CleanerThreads {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn run(mut cleaner: Cleaner, shared: &Shared, logs: &LogSource, clock: &Clock) {
    let backoff = Duration::from_millis(cleaner.config().backoff_ms.max(1));
    let mut failed: HashMap<PathBuf, u32> = HashMap::new();
    loop {
        if *shared.stopped.lock() {
            return;
        }
        // The logs are held only for this round: a broker closing its logs at shutdown
        // needs to be their last owner.
        let worked = round(&mut cleaner, logs, clock, &mut failed);
        if worked {
            continue;
        }
        failed.retain(|_, rounds| {
            *rounds -= 1;
            *rounds > 0
        });
        let mut stopped = shared.stopped.lock();
        if !*stopped {
            let _ = shared.wake.wait_for(&mut stopped, backoff);
        }
    }
}

/// Cleans the dirtiest cleanable log, if any; `false` when there was none (or it failed).
fn round(
    cleaner: &mut Cleaner,
    logs: &LogSource,
    clock: &Clock,
    failed: &mut HashMap<PathBuf, u32>,
) -> bool {
    let all = logs();
    let candidates: Vec<&Log> = all
        .iter()
        .map(|l| (**l).as_ref())
        .filter(|l| !failed.contains_key(l.dir()))
        .collect();
    let now = clock();
    match cleaner.dirtiest(&candidates, now) {
        Some(log) => match timed(|| cleaner.clean(log, now, false)) {
            (Ok(s), took) => {
                if s.segments_rewritten > 0 || s.map_full {
                    let read = s.map_bytes_read + s.clean_bytes_read;
                    let secs = took.as_secs_f64().max(1e-6);
                    tracing::info!(
                        dir = %log.dir().display(),
                        groups = s.segments_rewritten,
                        segments = s.segments_replaced,
                        records_removed = s.records_removed,
                        bytes_before = s.bytes_before,
                        bytes_after = s.bytes_after,
                        map_entries = s.map_entries,
                        next_dirty_offset = s.next_dirty_offset,
                        elapsed_ms = took.as_millis() as u64,
                        read_mb_per_s = format!("{:.1}", read as f64 / secs / 1e6),
                        "cleaned log"
                    );
                }
                true
            }
            (Err(e), _) => {
                tracing::error!(dir = %log.dir().display(), error = %e, "log cleaning failed; the log is skipped for a while");
                failed.insert(log.dir().to_path_buf(), FAILED_BACKOFFS);
                false
            }
        },
        None => false,
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = std::time::Instant::now();
    let out = f();
    (out, start.elapsed())
}
