//! The liveness decision the active controller still makes itself.
//!
//! Placement comes from `fjord-controller` (see `topics::plan_replicas`). Fencing is still
//! this plain session check: `fjord_controller::Liveness` (broker epochs, unfencing only once
//! a broker has caught up with the metadata log, controlled shutdown) is not wired in yet.

use std::time::Duration;

/// Whether a broker silent for `quiet` has outlived its session.
pub fn session_expired(quiet: Duration, session: Duration) -> bool {
    quiet > session
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_expires_only_after_its_timeout() {
        let s = Duration::from_secs(2);
        assert!(!session_expired(Duration::from_secs(2), s));
        assert!(session_expired(Duration::from_millis(2001), s));
    }
}
