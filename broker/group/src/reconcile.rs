//! Incremental reconciliation (Kafka's `CurrentAssignmentBuilder`): one step of a
//! member towards its target, never giving it a partition someone else still owns.
//!
//! - Stable at an older epoch, or Unreleased: compute the next step.
//! - Unrevoked: wait until the member's heartbeat no longer lists the partitions it
//!   must revoke (a heartbeat without the owned list counts as "still owns"), then
//!   step at epoch + 1.
//!
//! A step keeps `assigned ∩ target`; the rest of `assigned` becomes pending
//! revocation (the member stays at its epoch until it confirms); target partitions
//! that are free are added and the member moves to the target epoch; target
//! partitions still owned by another member wait (UnreleasedPartitions).

use crate::assignment::{self, Assignment, TopicId};
use crate::member::{ConsumerMember, MemberState};
use std::collections::BTreeSet;

pub(crate) struct Reconcile<'a> {
    pub target_epoch: i32,
    pub target: &'a Assignment,
    /// What the member says it owns (`None`: not sent).
    pub owned: Option<&'a Assignment>,
    /// Whether a partition is owned by any member right now.
    pub is_owned: &'a dyn Fn(TopicId, i32) -> bool,
}

impl Reconcile<'_> {
    pub fn run(&self, m: &ConsumerMember) -> ConsumerMember {
        match m.state {
            MemberState::Stable if m.epoch != self.target_epoch => self.next(m, m.epoch),
            MemberState::Stable => m.clone(),
            MemberState::UnrevokedPartitions => {
                if self.owns_any(&m.pending_revocation) {
                    m.clone()
                } else {
                    self.next(m, m.epoch + 1)
                }
            }
            MemberState::UnreleasedPartitions => self.next(m, m.epoch),
        }
    }

    fn owns_any(&self, revoking: &Assignment) -> bool {
        match self.owned {
            None => true,
            Some(owned) => {
                assignment::partitions(owned).any(|(t, p)| assignment::contains(revoking, t, p))
            }
        }
    }

    fn next(&self, m: &ConsumerMember, epoch: i32) -> ConsumerMember {
        let mut assigned = Assignment::new();
        let mut revoking = Assignment::new();
        let mut adding = Assignment::new();
        let mut unreleased = false;
        let topics: BTreeSet<TopicId> = self
            .target
            .keys()
            .chain(m.assigned.keys())
            .copied()
            .collect();
        for t in topics {
            let target = self.target.get(&t);
            let current = m.assigned.get(&t);
            for &p in current.into_iter().flatten() {
                if target.is_some_and(|s| s.contains(&p)) {
                    assignment::insert(&mut assigned, t, p);
                } else {
                    assignment::insert(&mut revoking, t, p);
                }
            }
            for &p in target.into_iter().flatten() {
                if assignment::contains(&assigned, t, p) {
                    continue;
                }
                if (self.is_owned)(t, p) {
                    unreleased = true;
                } else {
                    assignment::insert(&mut adding, t, p);
                }
            }
        }
        let mut out = m.clone();
        if !revoking.is_empty() && self.owns_any(&revoking) {
            out.state = MemberState::UnrevokedPartitions;
            out.set_epoch(epoch);
            out.assigned = assigned;
            out.pending_revocation = revoking;
            return out;
        }
        for (t, p) in assignment::partitions(&adding) {
            assignment::insert(&mut assigned, t, p);
        }
        out.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
        out.set_epoch(self.target_epoch);
        out.assigned = assigned;
        out.pending_revocation = Assignment::new();
        out
    }
}
