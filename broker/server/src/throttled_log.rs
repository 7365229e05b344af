//! Log lines that would otherwise flood: one line per interval, carrying how many were held back.
//!
//! A client hammering a full broker (descriptor limit, per-IP limit) must not turn each refused
//! connection into a log line; an operator still needs to see that it happens and how often.
//! Safe to share between threads.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

pub struct ThrottledLog {
    every: Duration,
    state: Mutex<State>,
}

struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl ThrottledLog {
    pub const fn new(every: Duration) -> ThrottledLog {
        ThrottledLog {
            every,
            state: Mutex::new(State {
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when a line should be written now (`n` events were held back since the
    /// last one); `None` when this event only counts.
    pub fn check(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock();
        match s.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                s.suppressed += 1;
                None
            }
            _ => {
                s.last = Some(now);
                Some(std::mem::take(&mut s.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let log = ThrottledLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.check(t0), Some(0));
        assert_eq!(log.check(t0 + Duration::from_secs(1)), None);
        assert_eq!(log.check(t0 + Duration::from_secs(9)), None);
        assert_eq!(log.check(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(log.check(t0 + Duration::from_secs(11)), None);
    }
}
