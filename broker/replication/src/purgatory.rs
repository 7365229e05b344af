//! `acks=all` produces waiting for the high watermark (Kafka's `DelayedProduce` in the produce
//! purgatory), kept per partition in offset order so an advance completes exactly the
//! waiters below it without scanning the others. Timeouts are the caller's: it cancels a
//! waiter whose `timeout_ms` ran out and answers REQUEST_TIMED_OUT.

use std::collections::BTreeSet;

/// Why an `acks=all` produce cannot be appended or acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcksAllOutcome {
    /// Committed: the high watermark passed the batch with enough replicas in sync.
    Committed,
    /// The ISR is smaller than `min.insync.replicas`: refused before the append.
    NotEnoughReplicas,
    /// Appended and replicated to the ISR, but the ISR shrank below `min.insync.replicas`
    /// meanwhile (Kafka's NOT_ENOUGH_REPLICAS_AFTER_APPEND: the client may retry; it may
    /// then be written twice unless idempotent).
    NotEnoughReplicasAfterAppend,
}

/// Kafka's check before an `acks=all` append: the ISR must hold `min.insync.replicas`.
pub fn before_append(isr_len: usize, min_insync_replicas: usize) -> Result<(), AcksAllOutcome> {
    if isr_len < min_insync_replicas {
        Err(AcksAllOutcome::NotEnoughReplicas)
    } else {
        Ok(())
    }
}

/// Kafka's `checkEnoughReplicasReachOffset`: `None` while the high watermark is below
/// `required` (the offset after the batch's last record).
pub fn reached(
    required: i64,
    high_watermark: i64,
    isr_len: usize,
    min_insync_replicas: usize,
) -> Option<AcksAllOutcome> {
    if high_watermark < required {
        None
    } else if isr_len >= min_insync_replicas {
        Some(AcksAllOutcome::Committed)
    } else {
        Some(AcksAllOutcome::NotEnoughReplicasAfterAppend)
    }
}

/// One parked produce: the offset it waits for and a sequence number that makes it unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaiterId {
    pub required: i64,
    seq: u64,
}

/// The waiters of one partition. Not thread-safe by itself (kept beside the leader state).
#[derive(Debug, Default)]
pub struct Purgatory {
    waiting: BTreeSet<WaiterId>,
    next: u64,
}

impl Purgatory {
    /// Parks a produce that needs the high watermark at `required`.
    pub fn park(&mut self, required: i64) -> WaiterId {
        let id = WaiterId {
            required,
            seq: self.next,
        };
        self.next += 1;
        self.waiting.insert(id);
        id
    }

    /// Removes a waiter (its timeout ran out or its connection went away); false when it had
    /// already completed.
    pub fn cancel(&mut self, id: WaiterId) -> bool {
        self.waiting.remove(&id)
    }

    /// Completes every waiter the high watermark has reached, in offset order.
    pub fn complete(
        &mut self,
        high_watermark: i64,
        isr_len: usize,
        min_insync_replicas: usize,
    ) -> Vec<(WaiterId, AcksAllOutcome)> {
        let boundary = WaiterId {
            required: high_watermark.saturating_add(1),
            seq: 0,
        };
        let rest = self.waiting.split_off(&boundary);
        let done = std::mem::replace(&mut self.waiting, rest);
        done.into_iter()
            .filter_map(|id| {
                reached(id.required, high_watermark, isr_len, min_insync_replicas)
                    .map(|outcome| (id, outcome))
            })
            .collect()
    }

    /// Takes every waiter (leadership moved away: they are answered NOT_LEADER_OR_FOLLOWER).
    pub fn drain(&mut self) -> Vec<WaiterId> {
        std::mem::take(&mut self.waiting).into_iter().collect()
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_insync_replicas_is_checked_before_and_after_the_append() {
        assert_eq!(before_append(1, 2), Err(AcksAllOutcome::NotEnoughReplicas));
        assert_eq!(before_append(2, 2), Ok(()));
        assert_eq!(reached(10, 9, 3, 2), None);
        assert_eq!(reached(10, 10, 3, 2), Some(AcksAllOutcome::Committed));
        assert_eq!(
            reached(10, 12, 1, 2),
            Some(AcksAllOutcome::NotEnoughReplicasAfterAppend)
        );
    }

    #[test]
    fn an_advance_completes_exactly_the_waiters_below_it_in_order() {
        let mut p = Purgatory::default();
        let a = p.park(5);
        let b = p.park(3);
        let c = p.park(8);
        let d = p.park(5);
        assert_eq!(p.complete(4, 3, 2), vec![(b, AcksAllOutcome::Committed)]);
        assert!(p.cancel(d), "d still waits");
        assert!(!p.cancel(b), "b already completed");
        assert_eq!(
            p.complete(6, 1, 2),
            vec![(a, AcksAllOutcome::NotEnoughReplicasAfterAppend)]
        );
        assert_eq!(p.drain(), vec![c]);
        assert!(p.is_empty());
    }
}
