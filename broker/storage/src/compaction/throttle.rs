//! A byte-rate limiter for the cleaner's I/O (Kafka's `Throttler`): the caller reports bytes
//! read or written and sleeps when it is ahead of the allowed rate. Owned by one thread.

use std::time::{Duration, Instant};

/// How long a measuring window lasts before it restarts, so a long idle spell does not buy
/// a burst.
const WINDOW: Duration = Duration::from_secs(1);

pub(crate) struct Throttler {
    bytes_per_second: f64,
    window_start: Instant,
    bytes_in_window: f64,
}

impl Throttler {
    pub(crate) fn new(bytes_per_second: f64) -> Throttler {
        Throttler {
            bytes_per_second,
            window_start: Instant::now(),
            bytes_in_window: 0.0,
        }
    }

    fn unlimited(&self) -> bool {
        !(self.bytes_per_second.is_finite() && self.bytes_per_second > 0.0)
            || self.bytes_per_second >= f64::MAX / 2.0
    }

    /// Accounts for `bytes` of I/O; sleeps for as long as the window is ahead of the rate.
    pub(crate) fn maybe_throttle(&mut self, bytes: u64) {
        if self.unlimited() {
            return;
        }
        self.bytes_in_window += bytes as f64;
        let elapsed = self.window_start.elapsed();
        let allowed = Duration::from_secs_f64(self.bytes_in_window / self.bytes_per_second);
        if allowed > elapsed {
            std::thread::sleep(allowed - elapsed);
        }
        if self.window_start.elapsed() >= WINDOW {
            self.window_start = Instant::now();
            self.bytes_in_window = 0.0;
        }
    }
}
