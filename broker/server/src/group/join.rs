//! JoinGroup as a transition of the state machine, in the order of Kafka's classic
//! group handling (`GroupCoordinatorService.joinGroup` and
//! `GroupMetadataManager.classicGroupJoinToClassicGroup` and what it calls):
//!
//! 1. (handler) empty group id -> INVALID_GROUP_ID; then the session timeout outside
//!    `group.{min,max}.session.timeout.ms` -> INVALID_SESSION_TIMEOUT;
//! 2. unknown group: created for an empty member id, else UNKNOWN_MEMBER_ID;
//! 3. a KIP-848 consumer group: converted back to classic when empty, else
//!    INCONSISTENT_GROUP_PROTOCOL (`consumer.rs`); Dead -> COORDINATOR_NOT_AVAILABLE;
//!    protocols the group cannot take -> INCONSISTENT_GROUP_PROTOCOL; a new member
//!    of a group holding `group.max.size` members -> GROUP_MAX_SIZE_REACHED;
//! 4. empty member id: a static member replaces the instance's old member id
//!    (KIP-345); a dynamic one at v4+ gets MEMBER_ID_REQUIRED and a pending id, below
//!    v4 it is added at once;
//! 5. known member id: a pending id is added; else `validate_member` (unknown instance
//!    id or member -> UNKNOWN_MEMBER_ID, another member's instance ->
//!    FENCED_INSTANCE_ID); then by state: PreparingRebalance joins the round;
//!    CompletingRebalance answers an unchanged member as before and rebalances a
//!    changed one; Stable rebalances for the leader or a changed member and answers an
//!    unchanged follower at once; Empty/Dead -> UNKNOWN_MEMBER_ID.

use super::coordinator::Coordinator;
use super::member::{JoinReply, Member, NEW_MEMBER_JOIN_TIMEOUT_MS};
use super::rebalance::{fail_parked, join_result};
use super::state::GroupState;
use super::{ClassicGroup, JoinRequest, JoinResponse};
use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;

impl Coordinator {
    /// JoinGroup. The response arrives on `reply`, at once or when the rebalance completes.
    pub fn join(&mut self, now: i64, req: JoinRequest, reply: JoinReply) {
        let group = req.group_id.clone();
        let in_bounds = req.session_timeout_ms >= self.config.min_session_timeout_ms
            && req.session_timeout_ms <= self.config.max_session_timeout_ms;
        if in_bounds {
            if let Some(resp) = self.mixed_join(now, &req) {
                self.out.joins.push((reply, resp));
                self.reschedule(&group);
                return;
            }
        }
        match self.join_error(now, &req) {
            Some(e) => {
                let resp = JoinResponse::error(e, &req.member_id);
                self.out.joins.push((reply, resp));
            }
            None if req.member_id.is_empty() => self.join_unknown(now, req, reply),
            None => self.join_known(now, req, reply),
        }
        self.reschedule(&group);
    }

    /// Steps 1-3 of the module comment; creates the group for a first member.
    fn join_error(&mut self, now: i64, req: &JoinRequest) -> Option<E> {
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Some(E::InvalidSessionTimeout);
        }
        if !self.groups.contains_key(&req.group_id) {
            if !req.member_id.is_empty() {
                return Some(E::UnknownMemberId);
            }
            let g = ClassicGroup::new(&req.group_id, now);
            self.groups.insert(req.group_id.clone(), g);
        }
        if let Some(e) = self.join_consumer_group(&req.group_id) {
            return Some(e);
        }
        let g = self.groups.get(&req.group_id)?;
        if g.is(GroupState::Dead) {
            return Some(E::CoordinatorNotAvailable);
        }
        if !g.supports_protocols(&req.protocol_type, &req.protocols) {
            return Some(E::InconsistentGroupProtocol);
        }
        // `group.max.size`: a member the group does not know yet cannot join a full
        // group (ids handed out with MEMBER_ID_REQUIRED count as members).
        let known = g.members.contains_key(&req.member_id)
            || g.pending_members.contains_key(&req.member_id);
        let full = g.members.len() + g.pending_members.len() >= self.config.max_size;
        if full && !known {
            let static_rejoin = req
                .instance_id
                .as_ref()
                .is_some_and(|i| g.static_members.contains_key(i));
            if !static_rejoin {
                return Some(E::GroupMaxSizeReached);
            }
        }
        None
    }

    fn join_unknown(&mut self, now: i64, req: JoinRequest, reply: JoinReply) {
        let new_id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        if let Some(instance) = req.instance_id.clone() {
            match g.static_members.get(&instance).cloned() {
                Some(old_id) => self.replace_static_member(now, req, reply, &old_id, new_id),
                None => self.add_member_and_rebalance(now, req, reply, new_id),
            }
        } else if req.require_known_member_id {
            // The pending id lapses after one session timeout, as Kafka's heartbeat
            // timer for a pending member does.
            g.pending_members
                .insert(new_id.clone(), now + i64::from(req.session_timeout_ms));
            self.out
                .joins
                .push((reply, JoinResponse::error(E::MemberIdRequired, &new_id)));
        } else {
            self.add_member_and_rebalance(now, req, reply, new_id);
        }
    }

    fn join_known(&mut self, now: i64, req: JoinRequest, reply: JoinReply) {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        if g.pending_members.remove(&req.member_id).is_some() {
            let id = req.member_id.clone();
            return self.add_member_and_rebalance(now, req, reply, id);
        }
        if let Err(e) = g.validate_member(&req.member_id, req.instance_id.as_deref()) {
            let resp = JoinResponse::error(e, &req.member_id);
            return self.out.joins.push((reply, resp));
        }
        let Some(member) = g.members.get(&req.member_id) else {
            return;
        };
        let is_leader = g.leader.as_deref() == Some(&*req.member_id);
        let unchanged = member.matches(&req.protocols);
        match g.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(now, req, reply),
            GroupState::CompletingRebalance if unchanged => {
                // A retried join of this generation (the first answer was lost):
                // answer as the first time, members included for the leader.
                let resp = join_result(g, &req.member_id, is_leader, false);
                self.out.joins.push((reply, resp));
            }
            GroupState::Stable if unchanged && !is_leader => {
                let resp = join_result(g, &req.member_id, false, false);
                self.out.joins.push((reply, resp));
            }
            // The leader rejoining a Stable group (metadata changed, or the follow-up
            // round of a cooperative rebalance) or a changed member starts a rebalance.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(now, req, reply)
            }
            GroupState::Empty | GroupState::Dead => {
                let resp = JoinResponse::error(E::UnknownMemberId, &req.member_id);
                self.out.joins.push((reply, resp));
            }
        }
    }

    /// Kafka's `addMemberThenRebalanceOrCompleteJoin`.
    fn add_member_and_rebalance(
        &mut self,
        now: i64,
        req: JoinRequest,
        reply: JoinReply,
        id: String,
    ) {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        if g.is(GroupState::PreparingRebalance) && g.generation == 0 {
            if let Some(d) = g.initial_delay.as_mut() {
                d.new_member_added = true;
            }
        }
        if g.members.is_empty() {
            g.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance) = &req.instance_id {
            g.static_members.insert(instance.clone(), id.clone());
        }
        if g.leader.is_none() {
            g.leader = Some(id.clone());
        }
        // A new member cannot heartbeat (it has no generation yet), so its session is
        // the new-member join timeout until its first join completes.
        let member = Member {
            id: id.clone(),
            instance_id: req.instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(reply),
            awaiting_sync: None,
            is_new: true,
            deadline_ms: now + NEW_MEMBER_JOIN_TIMEOUT_MS,
        };
        tracing::debug!(group = %g.id, member = %id, "member joined");
        g.members.insert(id, member);
        let group = g.id.clone();
        self.maybe_prepare_rebalance(&group, now);
        self.maybe_complete_join(&group, now);
    }

    /// Kafka's `updateMemberThenRebalanceOrCompleteJoin`.
    fn update_member_and_rebalance(&mut self, now: i64, req: JoinRequest, reply: JoinReply) {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        if let Some(m) = g.members.get_mut(&req.member_id) {
            m.protocols = req.protocols;
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.session_timeout_ms = req.session_timeout_ms;
            if let Some(old) = m.awaiting_join.replace(reply) {
                // A duplicate join supersedes the first; the first learns it lost.
                self.out
                    .joins
                    .push((old, JoinResponse::error(E::UnknownMemberId, &req.member_id)));
            }
        }
        self.maybe_prepare_rebalance(&req.group_id, now);
        self.maybe_complete_join(&req.group_id, now);
    }

    /// Kafka's `updateStaticMemberThenRebalanceOrCompleteJoin`: a static member
    /// rejoined with an empty member id, so its old id is fenced. In a Stable group
    /// whose protocol choice does not change it gets its old assignment without a
    /// rebalance (KIP-345). KIP-814 then tells a rejoining leader (v9+) to skip the
    /// assignment but still sends it the members; before v9 there is no such flag, so
    /// Kafka answers with the *previous* leader id and no members: the rejoined member
    /// does not recognise itself as leader, syncs as a follower, and the Stable group
    /// hands it the assignment it already had.
    fn replace_static_member(
        &mut self,
        now: i64,
        req: JoinRequest,
        reply: JoinReply,
        old_id: &str,
        new_id: String,
    ) {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        let previous_leader = g.leader.clone().unwrap_or_default();
        let Some(mut m) = g.members.remove(old_id) else {
            return;
        };
        // Parked responses of the old instance learn it was fenced.
        fail_parked(&mut self.out, &mut m, E::FencedInstanceId, old_id);
        m.id = new_id.clone();
        m.protocols = req.protocols;
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.client_id = req.client_id;
        m.client_host = req.client_host;
        m.heartbeat(now);
        m.awaiting_join = Some(reply);
        if g.leader.as_deref() == Some(old_id) {
            g.leader = Some(new_id.clone());
        }
        if g.pending_sync.remove(old_id) {
            g.pending_sync.insert(new_id.clone());
        }
        if let Some(i) = &req.instance_id {
            g.static_members.insert(i.clone(), new_id.clone());
        }
        g.members.insert(new_id.clone(), m);
        tracing::info!(group = %g.id, old = old_id, new = %new_id, "static member rejoined");
        let group = g.id.clone();
        match g.state {
            GroupState::Stable if g.select_protocol() == g.protocol_name => {
                let mut resp = if req.supports_skip_assignment {
                    let is_leader = g.leader.as_deref() == Some(&*new_id);
                    join_result(g, &new_id, is_leader, is_leader)
                } else {
                    join_result(g, &new_id, false, false)
                };
                if !req.supports_skip_assignment {
                    resp.leader = previous_leader;
                }
                if let Some(tx) = g
                    .members
                    .get_mut(&new_id)
                    .and_then(|m| m.awaiting_join.take())
                {
                    self.out.joins.push((tx, resp));
                }
                self.store_group(&group);
            }
            GroupState::Stable => self.maybe_prepare_rebalance(&group, now),
            // The leader may already have assigned the old id, so a new round is needed.
            GroupState::CompletingRebalance => self.prepare_rebalance(&group, now),
            // The member simply joins the round under way.
            _ => self.maybe_complete_join(&group, now),
        }
    }
}
