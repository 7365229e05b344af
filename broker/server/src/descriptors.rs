//! How the open-file limit is shared: partitions must never take the descriptors client
//! connections need.
//!
//! Every open partition holds one descriptor (its active segment); sealed segments are read
//! through a bounded cache of descriptors; every client connection holds a socket. With a
//! limit too low for all partitions, opening them all at start used to take every descriptor,
//! and the broker then had to close each new client at accept. Now, of the limit:
//! - an eighth (at least [`MIN_CLIENT_RESERVE`]) is kept for sockets and short-lived opens;
//! - an eighth (at most the storage default) is the sealed-segment cache's;
//! - [`PROCESS_MARGIN`] is kept for the broker's own later and short-lived opens;
//! - partitions are opened with what is left after the descriptors already in use. Partitions
//!   that do not fit are reported offline ("no descriptor headroom") and retried by the
//!   offline-retry loop, which opens them once descriptors are free (a raised limit after a
//!   restart, fewer connections).

use fjord_storage::{FileCache, DEFAULT_OPEN_SEGMENT_FILES};

/// Descriptors always kept for client connections, however low the limit.
pub const MIN_CLIENT_RESERVE: u64 = 16;

/// Descriptors kept beyond the client reserve for the process itself: what it opens after
/// the logs are loaded (listeners, the metrics endpoint, the metadata quorum's log and peer
/// sockets, runtime event queues) and short-lived opens (checkpoints, recovery, the count of
/// `/proc/self/fd` itself). Without it a broker whose partitions fill their share has fewer
/// free descriptors than the client reserve promises.
pub const PROCESS_MARGIN: u64 = 32;

/// The share of the descriptor limit each consumer may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorPlan {
    /// The soft `RLIMIT_NOFILE`.
    pub limit: u64,
    /// Kept free for client sockets (and transient opens: recovery, checkpoints).
    pub client_reserve: u64,
    /// Capacity of the sealed-segment descriptor cache.
    pub segment_cache: u64,
}

impl DescriptorPlan {
    /// The plan for a limit of `limit` descriptors.
    pub fn for_limit(limit: u64) -> DescriptorPlan {
        DescriptorPlan {
            limit,
            client_reserve: (limit / 8).max(MIN_CLIENT_RESERVE),
            segment_cache: (limit / 8).clamp(1, DEFAULT_OPEN_SEGMENT_FILES as u64),
        }
    }

    /// The plan for this process's current soft limit; `None` if it cannot be read.
    pub fn current() -> Option<DescriptorPlan> {
        let (soft, _) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()?;
        Some(DescriptorPlan::for_limit(soft))
    }

    /// Sizes the process-wide sealed-segment cache.
    pub fn apply(&self) {
        FileCache::global().set_capacity(self.segment_cache as usize);
    }

    /// How many more partition logs may be opened now, given `in_use` open descriptors.
    pub fn room(&self, in_use: u64) -> u64 {
        self.limit
            .saturating_sub(self.client_reserve)
            .saturating_sub(self.segment_cache)
            .saturating_sub(PROCESS_MARGIN)
            .saturating_sub(in_use)
    }

    /// [`DescriptorPlan::room`] with the descriptors this process has open now.
    pub fn room_now(&self) -> u64 {
        match open_descriptors() {
            Some(n) => self.room(n),
            // Cannot count (no /proc): do not hold partitions back on a guess.
            None => u64::MAX,
        }
    }
}

/// Descriptors this process has open (entries of `/proc/self/fd`).
fn open_descriptors() -> Option<u64> {
    // The directory handle itself is one of the entries; it is gone once counted.
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(n.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eighth_of_the_limit_stays_free_for_clients_and_an_eighth_is_the_segment_cache() {
        let p = DescriptorPlan::for_limit(20_000);
        assert_eq!((p.client_reserve, p.segment_cache), (2_500, 2_048));
        assert_eq!(p.room(100), 20_000 - 2_500 - 2_048 - PROCESS_MARGIN - 100);
        let low = DescriptorPlan::for_limit(64);
        assert_eq!((low.client_reserve, low.segment_cache), (16, 8));
        assert_eq!(
            low.room(40),
            0,
            "nothing for partitions rather than the reserve"
        );
    }

    #[test]
    fn descriptors_in_use_are_counted() {
        let before = open_descriptors().unwrap();
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        assert!(open_descriptors().unwrap() > before);
        drop(f);
    }
}
