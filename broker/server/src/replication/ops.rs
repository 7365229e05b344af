//! The leader's side of replication on a [`Partition`]: appends and follower fetches go into
//! its `LeaderState`; completed `acks=all` waits and woken fetches come out.

use super::role::{AcksAllWait, Role};
use crate::partition::Partition;
use fjord_replication::{IsrChange, WaiterId};
use kafka_protocol::error::ResponseError;

impl Partition {
    /// After an append by this leader: the high watermark may move (a leader alone in its ISR).
    pub fn leader_appended(&self) -> Vec<IsrChange> {
        let leo = self.log.log_end_offset();
        let mut role = self.role.lock();
        let Role::Leader(l) = &mut *role else {
            return Vec::new();
        };
        let effects = l.state.appended(leo);
        let (_, changes) = l.perform(effects);
        changes
    }

    /// A follower fetched from `fetch_offset`: answers the high watermark to send it and the
    /// ISR changes to propose. NOT_LEADER_OR_FOLLOWER when this broker does not lead with it
    /// as a replica.
    pub fn follower_fetched(
        &self,
        replica: i32,
        fetch_offset: i64,
        now_ms: u64,
    ) -> Result<(i64, Vec<IsrChange>), ResponseError> {
        // The log's end as it is now: a produce that appended but has not yet told the
        // replication state (`leader_appended`) must not cap this follower's offset.
        let log_end = self.log.log_end_offset();
        let mut role = self.role.lock();
        let Role::Leader(l) = &mut *role else {
            return Err(ResponseError::NotLeaderOrFollower);
        };
        let mut effects = l.state.appended(log_end);
        effects.extend(
            l.state
                .follower_fetched(replica, fetch_offset, now_ms)
                .map_err(|_| ResponseError::NotLeaderOrFollower)?,
        );
        let (advanced, changes) = l.perform(effects);
        let hw = l.state.high_watermark();
        drop(role);
        if advanced {
            // Consumers long-polling for committed records.
            self.wake_waiters();
        }
        Ok((hw, changes))
    }

    /// The in-sync replica count as this leader knows it (1 for a sole replica).
    pub fn isr_len(&self) -> Option<usize> {
        match &*self.role.lock() {
            Role::Sole => Some(1),
            Role::Leader(l) => Some(l.state.isr().len()),
            Role::Follower(_) => None,
        }
    }

    /// Waits for `required` to be committed (`acks=all`); `None` for a sole replica, where it
    /// is committed already.
    pub fn park_acks_all(&self, required: i64) -> Option<AcksAllWait> {
        match &mut *self.role.lock() {
            Role::Leader(l) => Some(l.park(required)),
            _ => None,
        }
    }

    /// Forgets a timed-out `acks=all` wait.
    pub fn cancel_acks_all(&self, id: WaiterId) {
        if let Role::Leader(l) = &mut *self.role.lock() {
            l.cancel(id);
        }
    }
}
