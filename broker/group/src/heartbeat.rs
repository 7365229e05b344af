//! ConsumerGroupHeartbeat as a transition, in the order of Kafka's
//! `GroupMetadataManager.consumerGroupHeartbeat`:
//!
//! 1. [`validate`] the request (INVALID_REQUEST, INVALID_REGULAR_EXPRESSION,
//!    UNSUPPORTED_ASSIGNOR), before the group is looked up;
//! 2. epoch -1 / -2: leave (or a static member's temporary leave);
//! 3. the group is full and this is a new member -> GROUP_MAX_SIZE_REACHED;
//! 4. find or create the member: unknown -> UNKNOWN_MEMBER_ID (epoch > 0); a static
//!    instance held by another live member -> UNRELEASED_INSTANCE_ID, by another id ->
//!    FENCED_INSTANCE_ID; an epoch ahead of the member's, or behind it other than the
//!    previous epoch with a subset of its partitions -> FENCED_MEMBER_EPOCH;
//! 5. update the member; bump the group epoch on a new group, a changed subscription
//!    or changed subscribed metadata (a topic created, deleted or grown, or a new
//!    regex match);
//! 6. recompute the target when the group epoch passed the assignment epoch;
//! 7. reconcile the member one step; restart its session.

use crate::assignment::Assignment;
use crate::assignor::Assignor;
use crate::error::GroupError;
use crate::group::{ConsumerGroup, GroupConfig};
use crate::member::{ConsumerMember, MemberState};
use crate::reconcile::Reconcile;
use crate::subscription::{self, Topics};
use crate::{LEAVE_EPOCH, LEAVE_STATIC_EPOCH};

/// A ConsumerGroupHeartbeat with `null`s kept as `None` ("unchanged").
#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    pub version: i16,
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1: unchanged.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

/// The successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatResponse {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent on a full request or when the member's assignment changed.
    pub assignment: Option<Assignment>,
}

/// The member id a v1+ client must generate itself (KIP-1082).
const CLIENT_MEMBER_ID_VERSION: i16 = 1;

/// Step 1: the checks Kafka makes before touching any group.
pub fn validate(req: &HeartbeatRequest, config: &GroupConfig) -> Result<(), GroupError> {
    let invalid = |s: &str| Err(GroupError::InvalidRequest(s.to_string()));
    if (req.version >= CLIENT_MEMBER_ID_VERSION
        || req.member_epoch > 0
        || req.member_epoch == LEAVE_EPOCH)
        && req.member_id.is_empty()
    {
        return invalid("MemberId can't be empty.");
    }
    if req.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.instance_id.as_deref() == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if req.rack_id.as_deref() == Some("") {
        return invalid("RackId can't be empty.");
    }
    if req.member_epoch == 0 {
        if req.rebalance_timeout_ms == -1 {
            return invalid("RebalanceTimeoutMs must be provided in first request.");
        }
        if req.owned.as_ref().is_none_or(|o| !o.is_empty()) {
            return invalid("TopicPartitions must be empty when (re-)joining.");
        }
        if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
            return invalid(
                "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
            );
        }
    } else if req.member_epoch == LEAVE_STATIC_EPOCH {
        if req.instance_id.is_none() {
            return invalid("InstanceId can't be null.");
        }
    } else if req.member_epoch < LEAVE_STATIC_EPOCH {
        return invalid("MemberEpoch is invalid.");
    }
    if let Some(re) = req
        .subscribed_topic_regex
        .as_deref()
        .filter(|r| !r.is_empty())
    {
        subscription::compile(re)?;
    }
    if let Some(name) = &req.server_assignor {
        let supported = Assignor::parse(name).is_some_and(|a| config.assignors.contains(&a));
        if !supported {
            let names: Vec<&str> = config.assignors.iter().map(|a| a.name()).collect();
            return Err(GroupError::UnsupportedAssignor(format!(
                "ServerAssignor {name} is not supported. Supported assignors: {}.",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

fn fenced(received: i32, known: i32, ahead: bool) -> GroupError {
    GroupError::FencedMemberEpoch(format!(
        "The consumer group member has a {} member epoch ({received}) than the one known by the group coordinator ({known}). The member must abandon all its partitions and rejoin.",
        if ahead { "greater" } else { "smaller" }
    ))
}

fn check_epoch(
    m: &ConsumerMember,
    received: i32,
    owned: Option<&Assignment>,
) -> Result<(), GroupError> {
    if received > m.epoch {
        return Err(fenced(received, m.epoch, true));
    }
    if received < m.epoch
        && (received != m.previous_epoch || !crate::assignment::is_subset(owned, &m.assigned))
    {
        return Err(fenced(received, m.epoch, false));
    }
    Ok(())
}

fn unknown_member(group: &str, member: &str) -> GroupError {
    GroupError::UnknownMemberId(format!("Member {member} is not a member of group {group}."))
}

impl ConsumerGroup {
    /// Steps 2-7 for an already validated request (see [`validate`]). The caller has
    /// found or created the group (a new one only for epoch 0).
    pub fn heartbeat(
        &mut self,
        now: i64,
        mut req: HeartbeatRequest,
        topics: &Topics,
        config: &GroupConfig,
    ) -> Result<HeartbeatResponse, GroupError> {
        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == LEAVE_STATIC_EPOCH {
            return self.leave(&req);
        }
        let known = !req.member_id.is_empty() && self.members.contains_key(&req.member_id);
        if self.members.len() as u64 >= u64::from(config.max_size) && !known {
            return Err(GroupError::GroupMaxSizeReached(config.max_size));
        }
        if req.member_id.is_empty() {
            req.member_id = uuid::Uuid::new_v4().to_string();
        }
        let member = self.find_member(&req)?;
        let mut updated = member.clone();
        if let Some(i) = &req.instance_id {
            updated.instance_id = Some(i.clone());
        }
        if let Some(r) = &req.rack_id {
            updated.rack_id = Some(r.clone());
        }
        if req.rebalance_timeout_ms != -1 {
            updated.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(a) = &req.server_assignor {
            updated.server_assignor = Some(a.clone());
        }
        if let Some(names) = &req.subscribed_topic_names {
            let mut names = names.clone();
            names.sort();
            names.dedup();
            updated.subscribed_topic_names = names;
        }
        if let Some(re) = &req.subscribed_topic_regex {
            updated.subscribed_topic_regex = Some(re.clone());
        }
        updated.client_id = req.client_id.clone();
        updated.client_host = req.client_host.clone();

        let mut bump = self.epoch == 0;
        bump |= member.subscribed_topic_names != updated.subscribed_topic_names
            || member.regex() != updated.regex();
        self.put_member(updated);
        let metadata = self.compute_subscription_metadata(topics);
        if metadata != self.subscription_metadata {
            self.subscription_metadata = metadata;
            bump = true;
        }
        if bump {
            self.epoch += 1;
            self.dirty = true;
        }
        if self.epoch > self.assignment_epoch {
            self.update_target(topics, config);
        }
        let current = self
            .members
            .get(&req.member_id)
            .cloned()
            .ok_or_else(|| unknown_member(&self.id, &req.member_id))?;
        let reconciled = if current.is_reconciled_to(self.assignment_epoch) {
            current.clone()
        } else {
            let empty = Assignment::new();
            let target = self.target.get(&req.member_id).unwrap_or(&empty);
            let owners = &self.owners;
            let is_owned = |t, p| owners.contains_key(&(t, p));
            Reconcile {
                target_epoch: self.assignment_epoch,
                target,
                owned: req.owned.as_ref(),
                is_owned: &is_owned,
            }
            .run(&current)
        };
        if reconciled != current {
            if reconciled.state == MemberState::UnrevokedPartitions {
                let timeout = i64::from(reconciled.rebalance_timeout_ms.max(0));
                self.rebalance_deadlines
                    .insert(reconciled.id.clone(), (now + timeout, reconciled.epoch));
            } else {
                self.rebalance_deadlines.remove(&reconciled.id);
            }
            self.put_member(reconciled.clone());
        }
        self.sessions.insert(
            req.member_id.clone(),
            now + i64::from(config.session_timeout_ms),
        );
        let full = req.member_epoch == 0
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.owned.is_some());
        let changed = member.assigned != reconciled.assigned;
        Ok(HeartbeatResponse {
            member_id: reconciled.id.clone(),
            member_epoch: reconciled.epoch,
            heartbeat_interval_ms: config.heartbeat_interval_ms,
            assignment: (full || changed).then(|| reconciled.assigned.clone()),
        })
    }

    /// Step 4: the member this heartbeat is about (new, existing, or a static member
    /// replacing its previous incarnation).
    fn find_member(&mut self, req: &HeartbeatRequest) -> Result<ConsumerMember, GroupError> {
        let create = req.member_epoch == 0;
        let Some(instance) = &req.instance_id else {
            let m = match self.members.get(&req.member_id) {
                Some(m) => m.clone(),
                None if create => ConsumerMember::new(&req.member_id),
                None => return Err(unknown_member(&self.id, &req.member_id)),
            };
            check_epoch(&m, req.member_epoch, req.owned.as_ref())?;
            return Ok(m);
        };
        let existing = self
            .static_members
            .get(instance)
            .and_then(|id| self.members.get(id))
            .cloned();
        if create {
            let Some(old) = existing else {
                let m = match self.members.get(&req.member_id) {
                    Some(m) => m.clone(),
                    None => ConsumerMember::new(&req.member_id),
                };
                check_epoch(&m, 0, req.owned.as_ref())?;
                return Ok(m);
            };
            if old.epoch != LEAVE_STATIC_EPOCH {
                return Err(GroupError::UnreleasedInstanceId(format!(
                    "Static member {} with instance id {instance} cannot join the group because the instance id is owned by {} member.",
                    req.member_id, old.id
                )));
            }
            // The new incarnation takes over the old one's assignment and target, so a
            // restarted static member gets its partitions back without a rebalance.
            let mut new = old.clone();
            new.id = req.member_id.clone();
            new.epoch = 0;
            new.previous_epoch = 0;
            self.replace_member(&old.id, new.clone());
            return Ok(new);
        }
        let Some(old) = existing else {
            return Err(GroupError::UnknownMemberId(format!(
                "Instance id {instance} is unknown."
            )));
        };
        if old.id != req.member_id {
            return Err(GroupError::FencedInstanceId(format!(
                "Static member {} with instance id {instance} is fenced by existing member {}.",
                req.member_id, old.id
            )));
        }
        check_epoch(&old, req.member_epoch, req.owned.as_ref())?;
        Ok(old)
    }

    fn replace_member(&mut self, old_id: &str, new: ConsumerMember) {
        let Some(old) = self.members.remove(old_id) else {
            return;
        };
        for tp in crate::assignment::partitions(&old.assigned)
            .chain(crate::assignment::partitions(&old.pending_revocation))
        {
            self.owners.remove(&tp);
        }
        if let Some(t) = self.target.remove(old_id) {
            self.target.insert(new.id.clone(), t);
        }
        self.sessions.remove(old_id);
        self.rebalance_deadlines.remove(old_id);
        self.put_member(new);
        self.dirty = true;
    }

    /// Step 2 (Kafka's `consumerGroupLeave`).
    fn leave(&mut self, req: &HeartbeatRequest) -> Result<HeartbeatResponse, GroupError> {
        let member_id = match &req.instance_id {
            None => {
                if !self.members.contains_key(&req.member_id) {
                    return Err(unknown_member(&self.id, &req.member_id));
                }
                req.member_id.clone()
            }
            Some(instance) => {
                let Some(current) = self.static_members.get(instance).cloned() else {
                    return Err(GroupError::UnknownMemberId(format!(
                        "Instance id {instance} is unknown."
                    )));
                };
                if current != req.member_id {
                    return Err(GroupError::FencedInstanceId(format!(
                        "Static member {} with instance id {instance} is fenced by existing member {current}.",
                        req.member_id
                    )));
                }
                current
            }
        };
        if req.member_epoch == LEAVE_STATIC_EPOCH {
            // Away for now: it keeps its partitions (and its session runs) so that
            // its next incarnation can take them over without a rebalance.
            if let Some(mut m) = self.members.get(&member_id).cloned() {
                m.epoch = LEAVE_STATIC_EPOCH;
                m.pending_revocation = Assignment::new();
                m.state = MemberState::Stable;
                self.rebalance_deadlines.remove(&member_id);
                self.put_member(m);
            }
        } else {
            self.fence(&member_id);
        }
        Ok(HeartbeatResponse {
            member_id,
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }
}
