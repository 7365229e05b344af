//! SyncGroup as a transition of the state machine, in the order of Kafka's
//! `GroupMetadataManager.classicGroupSyncToClassicGroup` / `validateSyncGroup`:
//!
//! 1. (handler) empty group id -> INVALID_GROUP_ID; coordinator still loading ->
//!    REBALANCE_IN_PROGRESS (the rebalance state was lost; the member rejoins);
//! 2. unknown group -> UNKNOWN_MEMBER_ID; Dead -> COORDINATOR_NOT_AVAILABLE;
//! 3. `validate_member` (UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID), then the
//!    generation (ILLEGAL_GENERATION), then a protocol type or name that differs from
//!    the group's (INCONSISTENT_GROUP_PROTOCOL);
//! 4. by state: PreparingRebalance -> REBALANCE_IN_PROGRESS; CompletingRebalance
//!    parks the member until the leader's assignment (which makes the group Stable);
//!    Stable answers the member's current assignment.

use super::coordinator::Coordinator;
use super::member::SyncReply;
use super::rebalance::sync_result;
use super::state::GroupState;
use super::{SyncRequest, SyncResponse};
use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use std::collections::BTreeMap;

impl Coordinator {
    /// SyncGroup. The response arrives on `reply`, at once or when the leader syncs.
    pub fn sync(&mut self, now: i64, req: SyncRequest, reply: SyncReply) {
        let group = req.group_id.clone();
        if let Some(resp) = self.mixed_sync(now, &req) {
            self.out.syncs.push((reply, resp));
            self.reschedule(&group);
            return;
        }
        match self.sync_error(&req) {
            Some(e) => self.out.syncs.push((reply, SyncResponse::error(e))),
            None => self.sync_valid(now, req, reply),
        }
        self.reschedule(&group);
    }

    fn sync_error(&self, req: &SyncRequest) -> Option<E> {
        let Some(g) = self.groups.get(&req.group_id) else {
            return Some(E::UnknownMemberId);
        };
        if g.is(GroupState::Dead) {
            return Some(E::CoordinatorNotAvailable);
        }
        if let Err(e) =
            g.validate_member_generation(&req.member_id, req.instance_id.as_deref(), req.generation)
        {
            return Some(e);
        }
        let mismatch =
            |given: &Option<String>, ours: &Option<String>| given.is_some() && given != ours;
        if mismatch(&req.protocol_type, &g.protocol_type)
            || mismatch(&req.protocol_name, &g.protocol_name)
        {
            return Some(E::InconsistentGroupProtocol);
        }
        None
    }

    fn sync_valid(&mut self, now: i64, req: SyncRequest, reply: SyncReply) {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        match g.state {
            // A member of a group without members is not possible past validation;
            // Kafka answers UNKNOWN_MEMBER_ID should it happen.
            GroupState::Empty | GroupState::Dead => self
                .out
                .syncs
                .push((reply, SyncResponse::error(E::UnknownMemberId))),
            GroupState::PreparingRebalance => self
                .out
                .syncs
                .push((reply, SyncResponse::error(E::RebalanceInProgress))),
            GroupState::Stable => {
                g.pending_sync.remove(&req.member_id);
                let resp = sync_result(g, &req.member_id);
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    m.heartbeat(now);
                }
                self.out.syncs.push((reply, resp));
            }
            GroupState::CompletingRebalance => {
                g.pending_sync.remove(&req.member_id);
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    m.heartbeat(now);
                    if let Some(old) = m.awaiting_sync.replace(reply) {
                        // A retried SyncGroup replaces the first; the first learns it lost.
                        self.out
                            .syncs
                            .push((old, SyncResponse::error(E::RebalanceInProgress)));
                    }
                }
                if g.leader.as_deref() == Some(&*req.member_id) {
                    self.complete_sync(now, &req.group_id, req.assignments);
                }
            }
        }
    }

    /// The leader's assignment arrived: every member gets its part (missing members
    /// an empty one, as in Kafka) and the group becomes Stable.
    fn complete_sync(&mut self, now: i64, group: &str, assignments: Vec<(String, Bytes)>) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let mut assignments: BTreeMap<String, Bytes> = assignments.into_iter().collect();
        for m in g.members.values_mut() {
            m.assignment = assignments.remove(&m.id).unwrap_or_default();
        }
        g.transition(GroupState::Stable, now);
        for m in g.members.values_mut() {
            if let Some(tx) = m.awaiting_sync.take() {
                let resp = SyncResponse {
                    error: None,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol_name.clone(),
                    assignment: m.assignment.clone(),
                };
                self.out.syncs.push((tx, resp));
            }
        }
        tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), "group stable");
        self.store_group(group);
    }
}
