//! LeaveGroup as a transition of the state machine, in the order of Kafka's
//! `GroupMetadataManager.classicGroupLeaveToClassicGroup`:
//!
//! 1. (handler) empty group id -> INVALID_GROUP_ID;
//! 2. unknown group -> UNKNOWN_MEMBER_ID for every member; Dead ->
//!    COORDINATOR_NOT_AVAILABLE for the whole request;
//! 3. per member: an empty member id names a static member by instance id (admin
//!    removal; unknown instance -> UNKNOWN_MEMBER_ID); a pending member id is simply
//!    dropped; otherwise `validate_member` (UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID)
//!    and the member is removed;
//! 4. if anyone left: a Stable or CompletingRebalance group prepares a rebalance, which
//!    completes at once when nobody is left to wait for (so the last leave makes the
//!    group Empty immediately); a PreparingRebalance group completes its join if all
//!    remaining members have rejoined.

use super::coordinator::Coordinator;
use super::state::GroupState;
use super::Leaving;
use kafka_protocol::error::ResponseError as E;

impl Coordinator {
    /// LeaveGroup for a batch of members (v3+; older versions send one). `Err` is an
    /// error for the whole request.
    pub fn leave(
        &mut self,
        now: i64,
        group_id: &str,
        leaving: Vec<Leaving>,
    ) -> Result<Vec<Leaving>, E> {
        match self.groups.get(group_id) {
            None => {
                let unknown = |l: Leaving| Leaving {
                    error: Some(E::UnknownMemberId),
                    ..l
                };
                return Ok(leaving.into_iter().map(unknown).collect());
            }
            Some(g) if g.is(GroupState::Dead) => return Err(E::CoordinatorNotAvailable),
            Some(_) => {}
        }
        let mut out = Vec::with_capacity(leaving.len());
        for mut l in leaving {
            l.error = self.leave_one(now, group_id, &l.member_id, l.instance_id.as_deref());
            out.push(l);
        }
        self.reschedule(group_id);
        Ok(out)
    }

    fn leave_one(
        &mut self,
        now: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<E> {
        if let Some(r) = self.mixed_leave(now, group_id, member_id, instance_id) {
            return r;
        }
        let g = self.groups.get_mut(group_id)?;
        if member_id.is_empty() {
            // An admin removing a static member names only its instance id.
            let id = instance_id.and_then(|i| g.static_members.get(i)).cloned();
            let Some(id) = id else {
                return Some(E::UnknownMemberId);
            };
            tracing::info!(group = group_id, member = %id, "static member removed");
            self.remove_member(group_id, &id, now);
            return None;
        }
        if g.pending_members.remove(member_id).is_some() {
            self.maybe_complete_join(group_id, now);
            return None;
        }
        if let Err(e) = g.validate_member(member_id, instance_id) {
            return Some(e);
        }
        tracing::info!(group = group_id, member = %member_id, "member left");
        self.remove_member(group_id, member_id, now);
        None
    }
}
