//! Per-object exponential backoff of failed reconciles.
//!
//! A flat retry interval either hammers a broken object or leaves a briefly unreachable one
//! waiting: the first retry comes after `base` (brokers whose DNS lags their readiness by a
//! second are retried a second later), each further failure doubles the pause up to `max`, and
//! a success forgets the object's failures.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Failure counts by object key.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            failures: Mutex::default(),
        }
    }

    /// Records a failure of `key`; returns how long to wait before retrying it.
    pub fn failed(&self, key: &str) -> Duration {
        let mut f = self.lock();
        let n = f.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        let doublings = (*n - 1).min(20);
        self.base
            .saturating_mul(1u32 << doublings)
            .min(self.max)
            .max(self.base.min(self.max))
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        // The map holds plain counters; a panic elsewhere cannot leave it inconsistent.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for Backoff {
    /// First retry after 1 s, doubling up to 5 minutes.
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(300))
    }
}

/// The backoff key of a namespaced object.
pub fn key(kind: &str, namespace: Option<&str>, name: &str) -> String {
    format!("{kind}/{}/{name}", namespace.unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_short_and_double_up_to_the_cap_per_object() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let pauses: Vec<u64> = (0..6).map(|_| b.failed("a").as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 10, 10]);
        assert_eq!(
            b.failed("b").as_secs(),
            1,
            "another object has its own count"
        );
        b.succeeded("a");
        assert_eq!(b.failed("a").as_secs(), 1, "a success resets the object");
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let b = Backoff::default();
        for _ in 0..100 {
            b.failed("a");
        }
        assert_eq!(b.failed("a"), Duration::from_secs(300));
    }
}
