//! The coordinator's background driver: it sleeps until the earliest timer of any
//! shard (or the next offset-expiry check) and is woken early when an input arms an
//! earlier deadline, instead of scanning every group on a fixed tick.
//!
//! Lost-wakeup freedom: an input first publishes its shard's next deadline, then
//! calls [`Wakeup::arm`]. The driver computes its sleep under `lock` with `planned`
//! set to `i64::MAX` while it reads the shards, so an `arm` racing with that read
//! either is seen by the read or finds `planned` at MAX and waits for the lock,
//! which the driver only releases inside the wait, and then notifies it.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Longest single sleep; only bounds how long a driver whose coordinator was dropped
/// without `shutdown` lingers.
const MAX_SLEEP_MS: i64 = 60_000;

/// "No timer" in a shard's published deadline.
pub const NONE: i64 = i64::MAX;

/// Where the driver sleeps. Safe to share between threads.
#[derive(Debug)]
pub struct Wakeup {
    /// When the driver means to wake next; `i64::MAX` while it is computing that.
    planned: AtomicI64,
    /// `true` once the coordinator stops.
    stopped: Mutex<bool>,
    cond: Condvar,
}

impl Default for Wakeup {
    fn default() -> Self {
        Wakeup {
            planned: AtomicI64::new(NONE),
            stopped: Mutex::new(false),
            cond: Condvar::new(),
        }
    }
}

impl Wakeup {
    /// Wakes the driver if `deadline` is earlier than it planned to wake. Cheap (one
    /// atomic load) when it is not.
    pub fn arm(&self, deadline: i64) {
        if deadline >= self.planned.load(Ordering::SeqCst) {
            return;
        }
        let _guard = self.stopped.lock();
        if deadline < self.planned.load(Ordering::SeqCst) {
            self.planned.store(deadline, Ordering::SeqCst);
            self.cond.notify_one();
        }
    }

    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.cond.notify_all();
    }

    /// Sleeps until the time `next` returns (read under the lock), a notification,
    /// or [`MAX_SLEEP_MS`]. Returns `false` once stopped.
    pub fn sleep(&self, now: impl Fn() -> i64, next: impl FnOnce() -> i64) -> bool {
        let mut stopped = self.stopped.lock();
        if *stopped {
            return false;
        }
        self.planned.store(NONE, Ordering::SeqCst);
        let until = next();
        self.planned.store(until, Ordering::SeqCst);
        let wait = until.saturating_sub(now()).min(MAX_SLEEP_MS);
        if wait > 0 {
            let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
            self.cond.wait_for(&mut stopped, wait);
        }
        !*stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn an_earlier_deadline_wakes_a_sleeping_driver() {
        let wakeup = Arc::new(Wakeup::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let w = wakeup.clone();
        let driver = std::thread::spawn(move || {
            // Would sleep MAX_SLEEP_MS without a notification.
            let alive = w.sleep(|| 0, || NONE);
            let _ = tx.send(alive);
        });
        // Arm until the driver has planned its sleep and been woken by an arm.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let woke = loop {
            wakeup.arm(1);
            if let Ok(alive) = rx.recv_timeout(Duration::from_millis(10)) {
                break Some(alive);
            }
            if std::time::Instant::now() > deadline {
                break None;
            }
        };
        assert_eq!(
            woke,
            Some(true),
            "the driver was not woken by an earlier deadline"
        );
        let _ = driver.join();
    }

    #[test]
    fn stop_ends_the_sleep() {
        let wakeup = Wakeup::default();
        wakeup.stop();
        assert!(!wakeup.sleep(|| 0, || NONE));
    }
}
