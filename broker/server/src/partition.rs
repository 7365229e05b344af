//! A partition this broker leads: its log plus the fetch waiters parked on it.

use crate::replication::role::Role;
use fjord_storage::Log;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// One partition of a topic. Safe to share between threads.
pub struct Partition {
    pub topic: Arc<str>,
    pub topic_id: Uuid,
    pub index: i32,
    pub log: Log,
    /// Fetches waiting for data on this partition (the fetch purgatory, keyed here), by
    /// registration id. A fetch registers once and stays until its [`Watch`] is dropped.
    waiters: Mutex<Vec<(u64, Arc<Notify>)>>,
    next_watch: AtomicU64,
    /// Sole replica, leader or follower (see [`crate::replication::role`]).
    pub role: Mutex<Role>,
}

/// A fetch's registration on a partition; removed when dropped (when the fetch completes).
pub struct Watch {
    partition: Arc<Partition>,
    id: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut waiters = self.partition.waiters.lock();
        if let Some(i) = waiters.iter().position(|(id, _)| *id == self.id) {
            waiters.swap_remove(i);
        }
    }
}

impl Partition {
    pub fn new(topic: Arc<str>, topic_id: Uuid, index: i32, log: Log) -> Partition {
        Partition {
            topic,
            topic_id,
            index,
            log,
            waiters: Mutex::new(Vec::new()),
            next_watch: AtomicU64::new(0),
            role: Mutex::new(Role::Sole),
        }
    }

    /// The high watermark: consumers read below it. With replication factor 1 every
    /// appended offset is committed at once; a leader's is the lowest log end offset of its
    /// ISR; a follower's is the leader's as last fetched, capped at its own log end.
    pub fn high_watermark(&self) -> i64 {
        match &*self.role.lock() {
            Role::Sole => self.log.log_end_offset(),
            Role::Leader(l) => l.state.high_watermark(),
            Role::Follower(f) => f.high_watermark.min(self.log.log_end_offset()),
        }
    }

    /// Parks a fetch: `waker` is notified at every append until the returned [`Watch`] is
    /// dropped. Notifications coalesce (one stored permit), so a fetch wakes once for any
    /// number of appends that happened while it was busy.
    pub fn watch(self: &Arc<Self>, waker: Arc<Notify>) -> Watch {
        let id = self.next_watch.fetch_add(1, Ordering::Relaxed);
        self.waiters.lock().push((id, waker));
        Watch {
            partition: self.clone(),
            id,
        }
    }

    /// Wakes every parked fetch; called after each append.
    pub fn wake_waiters(&self) {
        for (_, w) in self.waiters.lock().iter() {
            w.notify_one();
        }
    }

    /// Number of fetches parked here (for the purgatory gauge).
    pub fn waiting(&self) -> usize {
        self.waiters.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(dir: &std::path::Path) -> Arc<Partition> {
        let log = Log::open(dir, fjord_storage::LogConfig::default()).unwrap();
        Arc::new(Partition::new("t".into(), Uuid::nil(), 0, log))
    }

    #[test]
    fn a_watch_stays_registered_across_wakes_and_leaves_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = partition(dir.path());
        let waker = Arc::new(Notify::new());
        let watch = p.watch(waker.clone());
        let other = p.watch(Arc::new(Notify::new()));
        for _ in 0..100 {
            p.wake_waiters();
        }
        assert_eq!(p.waiting(), 2, "waking does not register or unregister");
        drop(watch);
        assert_eq!(p.waiting(), 1);
        drop(other);
        assert_eq!(p.waiting(), 0, "nothing piles up once fetches complete");
    }
}
