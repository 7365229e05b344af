//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: Kafka's classic rebalance protocol
//! (`GroupCoordinator.handleJoinGroup` and friends), as transitions of the state machine.

use super::classic::{ClassicGroup, InitialDelay};
use super::coordinator::{Coordinator, Effects};
use super::member::{JoinReply, Member, SyncReply, NEW_MEMBER_JOIN_TIMEOUT_MS};
use super::state::GroupState;
use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;

/// A JoinGroup request, version differences already resolved by the API handler.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new dynamic member first gets MEMBER_ID_REQUIRED and its id.
    pub require_known_member_id: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinResponse {
    pub error: Option<E>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinMember>,
    /// KIP-814: the leader is a static member rejoining; it must not reassign.
    pub skip_assignment: bool,
}

impl JoinResponse {
    pub fn error(error: E, member_id: &str) -> JoinResponse {
        JoinResponse {
            error: Some(error),
            generation: -1,
            member_id: member_id.to_string(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    /// v5+: must match the group's when given.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncResponse {
    pub error: Option<E>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResponse {
    pub fn error(error: E) -> SyncResponse {
        SyncResponse {
            error: Some(error),
            ..Default::default()
        }
    }
}

/// One member of a LeaveGroup request, and the answer for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaving {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub error: Option<E>,
}

impl Coordinator {
    /// JoinGroup. The response arrives on `reply`, at once or when the rebalance completes.
    pub fn join(&mut self, now: i64, req: JoinRequest, reply: JoinReply) {
        match self.join_error(now, &req) {
            Some(e) => {
                let resp = JoinResponse::error(e, &req.member_id);
                self.out.joins.push((reply, resp));
            }
            None if req.member_id.is_empty() => self.join_unknown(now, req, reply),
            None => self.join_known(now, req, reply),
        }
    }

    /// Checks that apply to every join; creates the group for a first member.
    fn join_error(&mut self, now: i64, req: &JoinRequest) -> Option<E> {
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Some(E::InvalidSessionTimeout);
        }
        if !self.groups.contains_key(&req.group_id) {
            if !req.member_id.is_empty() {
                // A known member id cannot belong to a group that does not exist.
                return Some(E::UnknownMemberId);
            }
            let g = ClassicGroup::new(&req.group_id, now);
            self.groups.insert(req.group_id.clone(), g);
        }
        let g = self.groups.get(&req.group_id)?;
        if g.is(GroupState::Dead) {
            return Some(E::CoordinatorNotAvailable);
        }
        if !g.supports_protocols(&req.protocol_type, &req.protocols) {
            return Some(E::InconsistentGroupProtocol);
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
        if g.is_static_member_fenced(req.instance_id.as_deref(), &req.member_id) {
            let resp = JoinResponse::error(E::FencedInstanceId, &req.member_id);
            return self.out.joins.push((reply, resp));
        }
        let Some(member) = g.members.get(&req.member_id) else {
            let resp = JoinResponse::error(E::UnknownMemberId, &req.member_id);
            return self.out.joins.push((reply, resp));
        };
        let is_leader = g.leader.as_deref() == Some(&*req.member_id);
        let unchanged = member.matches(&req.protocols);
        match g.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(now, req, reply),
            GroupState::CompletingRebalance if unchanged => {
                // A retried join of this generation: answer as the first time.
                let resp = join_result(g, &req.member_id, is_leader, false);
                self.out.joins.push((reply, resp));
            }
            GroupState::Stable if unchanged && !is_leader => {
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    m.heartbeat(now);
                }
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

    /// A static member rejoined with a new member id: the old id is fenced. A Stable
    /// group whose protocol choice is unchanged hands it the old assignment without a
    /// rebalance (KIP-345).
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
                let is_leader = g.leader.as_deref() == Some(&*new_id);
                let resp = join_result(g, &new_id, is_leader, is_leader);
                if let Some(tx) = g
                    .members
                    .get_mut(&new_id)
                    .and_then(|m| m.awaiting_join.take())
                {
                    self.out.joins.push((tx, resp));
                }
                self.store_group(&group);
            }
            // In CompletingRebalance the leader may already have assigned the old id, so
            // a new round is needed; in PreparingRebalance the member simply joins it.
            _ => {
                self.maybe_prepare_rebalance(&group, now);
                self.maybe_complete_join(&group, now);
            }
        }
    }

    /// SyncGroup. The response arrives on `reply`, at once or when the leader syncs.
    pub fn sync(&mut self, now: i64, req: SyncRequest, reply: SyncReply) {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return self
                .out
                .syncs
                .push((reply, SyncResponse::error(E::UnknownMemberId)));
        };
        if g.is(GroupState::Dead) {
            return self
                .out
                .syncs
                .push((reply, SyncResponse::error(E::CoordinatorNotAvailable)));
        }
        if let Err(e) =
            g.validate_member(&req.member_id, req.instance_id.as_deref(), req.generation)
        {
            return self.out.syncs.push((reply, SyncResponse::error(e)));
        }
        let mismatch =
            |given: &Option<String>, ours: &Option<String>| given.is_some() && given != ours;
        if mismatch(&req.protocol_type, &g.protocol_type)
            || mismatch(&req.protocol_name, &g.protocol_name)
        {
            return self
                .out
                .syncs
                .push((reply, SyncResponse::error(E::InconsistentGroupProtocol)));
        }
        g.pending_sync.remove(&req.member_id);
        match g.state {
            GroupState::Empty => self
                .out
                .syncs
                .push((reply, SyncResponse::error(E::UnknownMemberId))),
            GroupState::PreparingRebalance => self
                .out
                .syncs
                .push((reply, SyncResponse::error(E::RebalanceInProgress))),
            GroupState::Stable => {
                let resp = sync_result(g, &req.member_id);
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    m.heartbeat(now);
                }
                self.out.syncs.push((reply, resp));
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    m.heartbeat(now);
                    m.awaiting_sync = Some(reply);
                }
                if g.leader.as_deref() != Some(&*req.member_id) {
                    return;
                }
                let mut assignments: std::collections::BTreeMap<String, Bytes> =
                    req.assignments.into_iter().collect();
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
                let id = g.id.clone();
                self.store_group(&id);
            }
            GroupState::Dead => {}
        }
    }

    /// Heartbeat: `None` is success.
    pub fn heartbeat(
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
        match g.state {
            GroupState::Dead => return Some(E::CoordinatorNotAvailable),
            GroupState::Empty => return Some(E::UnknownMemberId),
            _ => {}
        }
        if let Err(e) = g.validate_member(member_id, instance_id, generation) {
            return Some(e);
        }
        if let Some(m) = g.members.get_mut(member_id) {
            m.heartbeat(now);
        }
        match g.state {
            GroupState::PreparingRebalance => Some(E::RebalanceInProgress),
            _ => None,
        }
    }

    /// LeaveGroup for a batch of members (v3+; older versions send one).
    pub fn leave(&mut self, now: i64, group_id: &str, leaving: Vec<Leaving>) -> Vec<Leaving> {
        let mut out = Vec::with_capacity(leaving.len());
        for mut l in leaving {
            l.error = self.leave_one(now, group_id, &l.member_id, l.instance_id.as_deref());
            out.push(l);
        }
        out
    }

    fn leave_one(
        &mut self,
        now: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<E> {
        let Some(g) = self.groups.get_mut(group_id) else {
            return Some(E::UnknownMemberId);
        };
        if g.is(GroupState::Dead) {
            return Some(E::CoordinatorNotAvailable);
        }
        // An admin removing a static member names only its instance id.
        let member_id = match (member_id.is_empty(), instance_id) {
            (true, Some(i)) => match g.static_members.get(i) {
                Some(id) => id.clone(),
                None => return Some(E::UnknownMemberId),
            },
            _ => member_id.to_string(),
        };
        if g.pending_members.remove(&member_id).is_some() {
            let group = g.id.clone();
            self.maybe_complete_join(&group, now);
            return None;
        }
        if g.is_static_member_fenced(instance_id, &member_id) {
            return Some(E::FencedInstanceId);
        }
        if !g.members.contains_key(&member_id) {
            return Some(E::UnknownMemberId);
        }
        tracing::info!(group = group_id, member = %member_id, "member left");
        self.remove_member(group_id, &member_id, now);
        None
    }

    /// Removes a member (left, expired, or missed the sync deadline) and rebalances.
    pub(crate) fn remove_member(&mut self, group_id: &str, member_id: &str, now: i64) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(mut m) = g.members.remove(member_id) else {
            return;
        };
        fail_parked(&mut self.out, &mut m, E::UnknownMemberId, member_id);
        if let Some(i) = &m.instance_id {
            if g.static_members.get(i).map(String::as_str) == Some(member_id) {
                g.static_members.remove(i);
            }
        }
        g.pending_sync.remove(member_id);
        if g.leader.as_deref() == Some(member_id) {
            g.leader = g
                .members
                .values()
                .find(|m| m.awaiting_join.is_some())
                .or_else(|| g.members.values().next())
                .map(|m| m.id.clone());
        }
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(group_id, now)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(group_id, now),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    fn maybe_prepare_rebalance(&mut self, group_id: &str, now: i64) {
        let can = self.groups.get(group_id).is_some_and(|g| {
            matches!(
                g.state,
                GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
            )
        });
        if can {
            self.prepare_rebalance(group_id, now);
        }
    }

    fn prepare_rebalance(&mut self, group_id: &str, now: i64) {
        let delay = self.config.initial_rebalance_delay_ms;
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if g.is(GroupState::CompletingRebalance) {
            // Assignments of the aborted generation are void; waiting syncs learn why.
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.awaiting_sync.take() {
                    self.out
                        .syncs
                        .push((tx, SyncResponse::error(E::RebalanceInProgress)));
                }
            }
        }
        g.pending_sync.clear();
        g.sync_deadline_ms = None;
        let timeout = g.rebalance_timeout_ms();
        if g.is(GroupState::Empty) && delay > 0 {
            let first = delay.min(timeout);
            g.initial_delay = Some(InitialDelay {
                deadline_ms: now + first,
                remaining_ms: (timeout - first).max(0),
                new_member_added: false,
            });
            g.join_deadline_ms = None;
        } else {
            g.initial_delay = None;
            g.join_deadline_ms = Some(now + timeout);
        }
        tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), "preparing rebalance");
        g.transition(GroupState::PreparingRebalance, now);
    }

    /// Completes the join phase once everyone has rejoined (not during an initial delay).
    pub(crate) fn maybe_complete_join(&mut self, group_id: &str, now: i64) {
        let ready = self.groups.get(group_id).is_some_and(|g| {
            g.is(GroupState::PreparingRebalance)
                && g.initial_delay.is_none()
                && g.all_members_joined()
        });
        if ready {
            self.complete_join(group_id, now);
        }
    }

    pub(crate) fn check_join_timers(&mut self, group_id: &str, now: i64) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if !g.is(GroupState::PreparingRebalance) {
            return;
        }
        if let Some(d) = g.initial_delay.as_mut() {
            if now < d.deadline_ms {
                return;
            }
            if d.new_member_added && d.remaining_ms > 0 {
                let next = self.config.initial_rebalance_delay_ms.min(d.remaining_ms);
                d.remaining_ms -= next;
                d.deadline_ms = now + next;
                d.new_member_added = false;
                return;
            }
            g.initial_delay = None;
            return self.complete_join(group_id, now);
        }
        if g.join_deadline_ms.is_some_and(|d| now >= d) {
            self.complete_join(group_id, now);
        }
    }

    pub(crate) fn check_sync_deadline(&mut self, group_id: &str, now: i64) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        let due = g.sync_deadline_ms.is_some_and(|d| now >= d);
        if !due {
            return;
        }
        g.sync_deadline_ms = None;
        let missing: Vec<String> = std::mem::take(&mut g.pending_sync).into_iter().collect();
        for m in missing {
            tracing::info!(group = group_id, member = %m, "member did not sync within the rebalance timeout");
            self.remove_member(group_id, &m, now);
        }
    }

    /// Ends the join phase: drops dynamic members that did not rejoin, starts the next
    /// generation and answers every parked JoinGroup (the leader gets the members).
    fn complete_join(&mut self, group_id: &str, now: i64) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        let missing: Vec<String> = g
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &missing {
            g.members.remove(id);
            tracing::info!(group = group_id, member = %id, "member did not rejoin in time");
        }
        if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
            g.leader = g
                .members
                .values()
                .find(|m| m.awaiting_join.is_some())
                .or_else(|| g.members.values().next())
                .map(|m| m.id.clone());
        }
        g.initial_delay = None;
        g.join_deadline_ms = None;
        g.generation += 1;
        if g.members.is_empty() {
            g.protocol_name = None;
            g.leader = None;
            g.transition(GroupState::Empty, now);
            tracing::info!(
                group = group_id,
                generation = g.generation,
                "group is empty"
            );
            return self.store_group(group_id);
        }
        g.protocol_name = g.select_protocol();
        g.transition(GroupState::CompletingRebalance, now);
        g.pending_sync = g.members.keys().cloned().collect();
        g.sync_deadline_ms = Some(now + g.rebalance_timeout_ms());
        let leader = g.leader.clone().unwrap_or_default();
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in ids {
            let resp = join_result(g, &id, id == leader, false);
            if let Some(m) = g.members.get_mut(&id) {
                m.is_new = false;
                m.heartbeat(now);
                if let Some(tx) = m.awaiting_join.take() {
                    self.out.joins.push((tx, resp));
                }
            }
        }
        tracing::info!(group = group_id, generation = g.generation, protocol = ?g.protocol_name, members = g.members.len(), "rebalance: join complete");
    }
}

/// The JoinGroup answer for `member_id` in the group's current generation.
/// Answers a departing member's parked JoinGroup and SyncGroup with `code`.
fn fail_parked(out: &mut Effects, m: &mut Member, code: E, member_id: &str) {
    if let Some(tx) = m.awaiting_join.take() {
        out.joins.push((tx, JoinResponse::error(code, member_id)));
    }
    if let Some(tx) = m.awaiting_sync.take() {
        out.syncs.push((tx, SyncResponse::error(code)));
    }
}

fn join_result(
    g: &ClassicGroup,
    member_id: &str,
    with_members: bool,
    skip_assignment: bool,
) -> JoinResponse {
    let protocol = g.protocol_name.clone().unwrap_or_default();
    JoinResponse {
        error: None,
        generation: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol_name.clone(),
        leader: g.leader.clone().unwrap_or_default(),
        member_id: member_id.to_string(),
        members: if with_members {
            g.members
                .values()
                .map(|m| JoinMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    metadata: m.metadata(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        },
        skip_assignment,
    }
}

fn sync_result(g: &ClassicGroup, member_id: &str) -> SyncResponse {
    SyncResponse {
        error: None,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol_name.clone(),
        assignment: g
            .members
            .get(member_id)
            .map(|m| m.assignment.clone())
            .unwrap_or_default(),
    }
}
