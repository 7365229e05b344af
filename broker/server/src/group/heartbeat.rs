//! Heartbeat as a transition of the state machine, in the order of Kafka's
//! `GroupMetadataManager.classicGroupHeartbeatToClassicGroup`:
//!
//! 1. (handler) empty group id -> INVALID_GROUP_ID; coordinator still loading ->
//!    no error (Kafka answers blindly so members do not rejoin needlessly);
//! 2. unknown group -> UNKNOWN_MEMBER_ID; Dead -> COORDINATOR_NOT_AVAILABLE;
//! 3. `validate_member` (UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID), then the
//!    generation (ILLEGAL_GENERATION);
//! 4. by state: Empty -> UNKNOWN_MEMBER_ID; PreparingRebalance restarts the session
//!    and answers REBALANCE_IN_PROGRESS; CompletingRebalance and Stable restart the
//!    session.

use super::coordinator::Coordinator;
use super::state::GroupState;
use kafka_protocol::error::ResponseError as E;

impl Coordinator {
    /// Heartbeat: `None` is success.
    pub fn heartbeat(
        &mut self,
        now: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<E> {
        let result = match self.mixed_heartbeat(now, group_id, member_id, instance_id, generation) {
            Some(r) => r,
            None => self.heartbeat_inner(now, group_id, member_id, instance_id, generation),
        };
        self.reschedule(group_id);
        result
    }

    fn heartbeat_inner(
        &mut self,
        now: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<E> {
        let Some(g) = self.groups.get_mut(group_id) else {
            return Some(E::UnknownMemberId);
        };
        if g.is(GroupState::Dead) {
            return Some(E::CoordinatorNotAvailable);
        }
        if let Err(e) = g.validate_member_generation(member_id, instance_id, generation) {
            return Some(e);
        }
        if g.is(GroupState::Empty) {
            return Some(E::UnknownMemberId);
        }
        if let Some(m) = g.members.get_mut(member_id) {
            m.heartbeat(now);
        }
        match g.state {
            GroupState::PreparingRebalance => Some(E::RebalanceInProgress),
            _ => None,
        }
    }
}
