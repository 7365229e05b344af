//! Placement and liveness decisions, kept minimal on purpose.
//!
//! The lead swaps these for the `fjord-controller` crate (rack-aware balanced placement,
//! fencing, leader election from the ISR, controlled shutdown) at merge: keep this
//! module small and its signatures plain.

use std::time::Duration;

/// Round-robin placement of `partitions` partitions with `rf` replicas over `brokers`
/// (sorted ids), starting at broker `start` so topics do not all lead on one broker.
/// The caller has checked `1 <= rf <= brokers.len()`.
pub fn place(brokers: &[i32], partitions: i32, rf: usize, start: usize) -> Vec<Vec<i32>> {
    if brokers.is_empty() {
        return Vec::new();
    }
    (0..partitions.max(0) as usize)
        .map(|p| {
            (0..rf)
                .map(|r| brokers[(start + p + r) % brokers.len()])
                .collect()
        })
        .collect()
}

/// Whether a broker silent for `quiet` has outlived its session.
pub fn session_expired(quiet: Duration, session: Duration) -> bool {
    quiet > session
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_spreads_partitions_over_brokers() {
        assert_eq!(
            place(&[1, 2, 3], 4, 1, 1),
            vec![vec![2], vec![3], vec![1], vec![2]]
        );
        assert_eq!(place(&[0], 2, 1, 7), vec![vec![0], vec![0]]);
        assert!(place(&[], 2, 1, 0).is_empty());
    }

    #[test]
    fn a_session_expires_only_after_its_timeout() {
        let s = Duration::from_secs(2);
        assert!(!session_expired(Duration::from_secs(2), s));
        assert!(session_expired(Duration::from_millis(2001), s));
    }
}
