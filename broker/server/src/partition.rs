//! A partition this broker leads: its log plus the fetch waiters parked on it.

use fjord_storage::Log;
use parking_lot::Mutex;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// One partition of a topic. Safe to share between threads.
pub struct Partition {
    pub topic: Arc<str>,
    pub topic_id: Uuid,
    pub index: i32,
    pub log: Log,
    /// Fetches waiting for data on this partition (the fetch purgatory, keyed here).
    waiters: Mutex<Vec<Arc<Notify>>>,
}

impl Partition {
    pub fn new(topic: Arc<str>, topic_id: Uuid, index: i32, log: Log) -> Partition {
        Partition {
            topic,
            topic_id,
            index,
            log,
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// With replication factor 1 every appended offset is committed at once.
    pub fn high_watermark(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Parks a fetch: `waker` is notified at the next append.
    pub fn watch(&self, waker: &Arc<Notify>) {
        let mut waiters = self.waiters.lock();
        // Drop wakers whose fetch already returned (only this list still holds them),
        // so idle partitions with long-polling consumers do not accumulate them.
        waiters.retain(|w| Arc::strong_count(w) > 1);
        waiters.push(waker.clone());
    }

    /// Wakes every parked fetch; called after each append.
    pub fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock());
        for w in waiters {
            w.notify_one();
        }
    }

    /// Number of fetches parked here (for the purgatory gauge).
    pub fn waiting(&self) -> usize {
        self.waiters.lock().len()
    }
}
