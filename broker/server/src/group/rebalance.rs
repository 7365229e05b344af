//! The classic rebalance protocol's requests and answers, and the transitions that
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the timers share: removing a
//! member, preparing a rebalance, completing the join phase (Kafka's
//! `prepareRebalance`, `maybeCompleteJoinPhase`, `completeClassicGroupJoin`). The
//! requests themselves are in `join.rs`, `sync.rs`, `heartbeat.rs` and `leave.rs`.

use super::classic::{ClassicGroup, InitialDelay};
use super::coordinator::{Coordinator, Effects};
use super::member::Member;
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
    /// v9+: the answer may carry KIP-814's `skip_assignment`.
    pub supports_skip_assignment: bool,
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

    pub(crate) fn maybe_prepare_rebalance(&mut self, group_id: &str, now: i64) {
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

    /// Kafka's `prepareRebalance`: waiting syncs learn of the new round; an Empty
    /// group waits the initial delay, any other starts the join deadline and completes
    /// at once if nobody needs to rejoin (e.g. the last member just left).
    pub(crate) fn prepare_rebalance(&mut self, group_id: &str, now: i64) {
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
        self.maybe_complete_join(group_id, now);
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
            g.pending_sync.remove(id);
            tracing::info!(group = group_id, member = %id, "member did not rejoin in time");
        }
        if g.leader
            .as_ref()
            .is_some_and(|l| !g.members.contains_key(l))
        {
            g.leader = g.members.keys().next().cloned();
        }
        if !g.elect_joined_leader() && !g.members.is_empty() {
            // Only static members that have not rejoined are left: Kafka postpones the
            // generation by another rebalance timeout until their sessions decide.
            g.initial_delay = None;
            g.join_deadline_ms = Some(now + g.rebalance_timeout_ms());
            tracing::warn!(
                group = group_id,
                "no member rejoined; the join phase waits another rebalance timeout"
            );
            return;
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

/// Answers a departing member's parked JoinGroup and SyncGroup with `code`.
pub(crate) fn fail_parked(out: &mut Effects, m: &mut Member, code: E, member_id: &str) {
    if let Some(tx) = m.awaiting_join.take() {
        out.joins.push((tx, JoinResponse::error(code, member_id)));
    }
    if let Some(tx) = m.awaiting_sync.take() {
        out.syncs.push((tx, SyncResponse::error(code)));
    }
}

/// The JoinGroup answer for `member_id` in the group's current generation.
pub(crate) fn join_result(
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

pub(crate) fn sync_result(g: &ClassicGroup, member_id: &str) -> SyncResponse {
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
