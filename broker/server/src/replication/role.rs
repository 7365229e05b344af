//! A partition's replication role on this broker, kept in its [`Partition`](crate::partition::Partition):
//! the sole replica (replication factor 1: what is appended is committed), the leader
//! (`fjord_replication::LeaderState` and the `acks=all` purgatory) or a follower (the leader's
//! high watermark as last fetched).

use fjord_replication::purgatory::reached;
use fjord_replication::{AcksAllOutcome, Effect, IsrChange, LeaderState, Purgatory, WaiterId};
use std::collections::HashMap;
use tokio::sync::oneshot;

/// What this broker is for one partition.
#[derive(Default)]
pub enum Role {
    /// The only replica (or not yet told otherwise): the log end is the high watermark.
    #[default]
    Sole,
    Leader(Box<Leading>),
    Follower(Following),
}

/// A partition this broker leads with followers.
pub struct Leading {
    pub state: LeaderState,
    pub purgatory: Purgatory,
    waiters: HashMap<WaiterId, oneshot::Sender<AcksAllOutcome>>,
    /// The topic's `min.insync.replicas`, for completing `acks=all` waiters.
    pub min_insync_replicas: usize,
}

/// A partition this broker follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Following {
    pub leader: i32,
    pub leader_epoch: i32,
    /// The leader's high watermark, capped at this replica's log end.
    pub high_watermark: i64,
    /// Cut to the divergence point with this leader since following this leader epoch (done
    /// by the fetcher once the leader answered OffsetForLeaderEpoch, not when the role
    /// changes: a replica that is elected leader before it could reach the old one keeps its
    /// whole log).
    pub truncated: bool,
}

/// What an `acks=all` produce waits on after its append.
pub enum AcksAllWait {
    /// Already decided (committed at once, or not enough replicas).
    Now(AcksAllOutcome),
    /// Completed when the high watermark reaches it; the id cancels it on timeout.
    Later(WaiterId, oneshot::Receiver<AcksAllOutcome>),
}

impl Leading {
    pub fn new(state: LeaderState, min_insync_replicas: usize) -> Leading {
        Leading {
            state,
            purgatory: Purgatory::default(),
            waiters: HashMap::new(),
            min_insync_replicas,
        }
    }

    /// Performs the state machine's effects that stay inside the partition (completing
    /// waiters) and hands back the rest: whether the high watermark moved (wake fetches) and
    /// the ISR changes to send.
    pub fn perform(&mut self, effects: Vec<Effect>) -> (bool, Vec<IsrChange>) {
        let mut advanced = false;
        let mut changes = Vec::new();
        for e in effects {
            match e {
                Effect::HighWatermark(hw) => {
                    advanced = true;
                    self.complete(hw);
                }
                Effect::AlterIsr(c) => changes.push(c),
            }
        }
        (advanced, changes)
    }

    /// Completes the waiters below `hw`; also after an ISR change (the ISR size counts).
    pub fn complete(&mut self, hw: i64) {
        let isr = self.state.isr().len();
        for (id, outcome) in self.purgatory.complete(hw, isr, self.min_insync_replicas) {
            if let Some(tx) = self.waiters.remove(&id) {
                // The produce may have timed out and gone; nobody to tell then.
                let _ = tx.send(outcome);
            }
        }
    }

    /// Parks an `acks=all` produce that needs the high watermark at `required`.
    pub fn park(&mut self, required: i64) -> AcksAllWait {
        let hw = self.state.high_watermark();
        let isr = self.state.isr().len();
        if let Some(outcome) = reached(required, hw, isr, self.min_insync_replicas) {
            return AcksAllWait::Now(outcome);
        }
        let id = self.purgatory.park(required);
        let (tx, rx) = oneshot::channel();
        self.waiters.insert(id, tx);
        AcksAllWait::Later(id, rx)
    }

    /// Forgets a waiter whose produce timed out.
    pub fn cancel(&mut self, id: WaiterId) {
        self.purgatory.cancel(id);
        self.waiters.remove(&id);
    }
}

impl Drop for Leading {
    /// Leadership ended: waiting produces are dropped, and their receivers see it (answered
    /// NOT_LEADER_OR_FOLLOWER by the produce).
    fn drop(&mut self) {
        self.purgatory.drain();
        self.waiters.clear();
    }
}
