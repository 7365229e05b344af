//! Classic members inside a consumer group (KIP-848's online migration, Kafka 4's
//! `classicGroupJoinToConsumerGroup`, `classicGroupSyncToConsumerGroup` and
//! `classicGroupHeartbeatToConsumerGroup`).
//!
//! A JoinGroup/SyncGroup/Heartbeat client in a live consumer group is a member like
//! any other: its subscription comes from its JoinGroup metadata, the server-side
//! assignor gives it a target, and it moves towards the target by the same
//! revoke-first reconciliation. What differs is how it learns: its member epoch is
//! its generation; JoinGroup runs one reconciliation step with the partitions it says
//! it owns and answers at once; SyncGroup hands it the partitions it holds now; a
//! Heartbeat answers REBALANCE_IN_PROGRESS while it has partitions to give up or to
//! take, so it rejoins (revoking first, as every classic client does before joining).
//!
//! The caller decodes the ConsumerProtocol bytes (subscription topics, owned
//! partitions) and encodes the assignment; this module sees names and ids only.

use crate::assignment::{self, Assignment};
use crate::error::GroupError;
use crate::group::{ConsumerGroup, GroupConfig};
use crate::member::{ConsumerMember, MemberState};
use crate::reconcile::Reconcile;
use crate::subscription::Topics;
use bytes::Bytes;

/// What a classic member brings beyond a consumer member: its own session timeout
/// and the protocols (assignor names and metadata) it offered in JoinGroup, which
/// DescribeGroups shows and a downgrade hands back to the classic coordinator.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassicMember {
    pub session_timeout_ms: i32,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
}

/// A JoinGroup for a consumer group, its ConsumerProtocol subscription decoded.
#[derive(Debug, Clone, Default)]
pub struct ClassicJoin {
    /// Given by the coordinator (MEMBER_ID_REQUIRED has happened at the edge).
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, Bytes)>,
    /// Subscribed topic names.
    pub topics: Vec<String>,
    /// Partitions the member says it still owns (cooperative clients; eager ones
    /// revoked everything before joining and send none).
    pub owned: Vec<(String, i32)>,
}

/// The JoinGroup answer: the member's epoch is its generation.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassicJoined {
    pub member_id: String,
    pub generation: i32,
    /// The member's preferred protocol (the group has no common choice to make).
    pub protocol_name: String,
}

impl ConsumerGroup {
    /// JoinGroup of a classic member (Kafka's `classicGroupJoinToConsumerGroup`).
    pub fn classic_join(
        &mut self,
        now: i64,
        req: ClassicJoin,
        topics: &Topics,
        config: &GroupConfig,
    ) -> Result<ClassicJoined, GroupError> {
        let known = self.members.contains_key(&req.member_id);
        let holder = req
            .instance_id
            .as_ref()
            .and_then(|i| self.static_members.get(i).cloned());
        if !known && holder.is_none() && self.members.len() as u64 >= u64::from(config.max_size) {
            return Err(GroupError::GroupMaxSizeReached(config.max_size));
        }
        let mut member = match holder {
            // A static member rejoining under a new id takes over its predecessor's
            // partitions and target (KIP-345), as a classic group would hand them back.
            Some(old) if old != req.member_id => {
                let mut m = self
                    .members
                    .get(&old)
                    .cloned()
                    .unwrap_or_else(|| ConsumerMember::new(&req.member_id));
                m.id = req.member_id.clone();
                self.fence_quietly(&old, &m);
                m
            }
            _ => self
                .members
                .get(&req.member_id)
                .cloned()
                .unwrap_or_else(|| ConsumerMember::new(&req.member_id)),
        };
        let before = member.subscribed_topic_names.clone();
        member.take_classic_join(&req);
        let mut bump = self.epoch == 0 || !known || before != member.subscribed_topic_names;
        self.put_member(member);
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
        let mut owned = Assignment::new();
        for (name, p) in &req.owned {
            if let Some((id, _)) = topics.get(name) {
                assignment::insert(&mut owned, id, *p);
            }
        }
        self.reconcile_classic(now, &req.member_id, &owned)?;
        let m = self.classic_member(&req.member_id)?;
        let generation = m.epoch;
        self.restart_classic_session(now, &req.member_id);
        Ok(ClassicJoined {
            member_id: req.member_id.clone(),
            generation,
            protocol_name: req
                .protocols
                .first()
                .map(|(n, _)| n.clone())
                .unwrap_or_default(),
        })
    }

    /// SyncGroup of a classic member: the partitions it holds now.
    pub fn classic_sync(
        &mut self,
        now: i64,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<Assignment, GroupError> {
        self.validate_classic(member_id, instance_id, generation)?;
        self.restart_classic_session(now, member_id);
        Ok(self.classic_member(member_id)?.assigned.clone())
    }

    /// Heartbeat of a classic member: REBALANCE_IN_PROGRESS while it should rejoin
    /// (Kafka's answer when the member has partitions to revoke, or to take that are
    /// free now, or the target moved on).
    pub fn classic_heartbeat(
        &mut self,
        now: i64,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        topics: &Topics,
        config: &GroupConfig,
    ) -> Result<(), GroupError> {
        self.validate_classic(member_id, instance_id, generation)?;
        self.restart_classic_session(now, member_id);
        if self.epoch > self.assignment_epoch {
            // A member left or the metadata moved: only classic members may be left
            // to notice, so the target is brought up to date here too.
            self.update_target(topics, config);
        }
        let m = self.classic_member(member_id)?;
        let must_rejoin = match m.state {
            MemberState::UnrevokedPartitions => true,
            MemberState::UnreleasedPartitions => self
                .target
                .get(member_id)
                .into_iter()
                .flat_map(assignment::partitions)
                .any(|(t, p)| {
                    !assignment::contains(&m.assigned, t, p) && self.owner(t, p).is_none()
                }),
            MemberState::Stable => m.epoch != self.assignment_epoch,
        };
        if must_rejoin {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// LeaveGroup of a classic member: it is fenced and its partitions are freed.
    pub fn classic_leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        let id = match instance_id {
            Some(i) => match self.static_members.get(i) {
                Some(holder) if holder == member_id || member_id.is_empty() => holder.clone(),
                Some(_) => {
                    return Err(GroupError::FencedInstanceId(format!(
                        "Static member {member_id} with instance id {i} is fenced."
                    )))
                }
                None => return Err(unknown(member_id)),
            },
            None => member_id.to_string(),
        };
        if !self.members.contains_key(&id) {
            return Err(unknown(&id));
        }
        self.fence(&id);
        Ok(())
    }

    fn validate_classic(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        if let Some(i) = instance_id {
            if let Some(holder) = self.static_members.get(i) {
                if holder != member_id {
                    return Err(GroupError::FencedInstanceId(format!(
                        "Static member {member_id} with instance id {i} is fenced by existing member {holder}."
                    )));
                }
            }
        }
        let m = self.classic_member(member_id)?;
        if m.epoch != generation {
            return Err(GroupError::IllegalGeneration(format!(
                "The member {member_id} has generation {generation}; the coordinator knows {}.",
                m.epoch
            )));
        }
        Ok(())
    }

    fn classic_member(&self, member_id: &str) -> Result<&ConsumerMember, GroupError> {
        self.members
            .get(member_id)
            .filter(|m| m.classic.is_some())
            .ok_or_else(|| unknown(member_id))
    }

    /// Runs reconciliation to a fixed point with what the member says it owns: a
    /// classic member revokes before it rejoins, so revoking and advancing can both
    /// happen within one JoinGroup.
    fn reconcile_classic(
        &mut self,
        now: i64,
        member_id: &str,
        owned: &Assignment,
    ) -> Result<(), GroupError> {
        for _ in 0..3 {
            let current = self.classic_member(member_id)?.clone();
            let empty = Assignment::new();
            let target = self.target.get(member_id).unwrap_or(&empty);
            let owners = &self.owners;
            let is_owned = |t, p| owners.contains_key(&(t, p));
            let next = Reconcile {
                target_epoch: self.assignment_epoch,
                target,
                owned: Some(owned),
                is_owned: &is_owned,
            }
            .run(&current);
            if next == current {
                break;
            }
            if next.state == MemberState::UnrevokedPartitions {
                let timeout = i64::from(next.rebalance_timeout_ms.max(0));
                self.rebalance_deadlines
                    .insert(next.id.clone(), (now + timeout, next.epoch));
            } else {
                self.rebalance_deadlines.remove(&next.id);
            }
            self.put_member(next);
        }
        Ok(())
    }

    pub(crate) fn restart_classic_session(&mut self, now: i64, member_id: &str) {
        if let Some(s) = self
            .members
            .get(member_id)
            .and_then(|m| m.classic.as_ref())
            .map(|c| c.session_timeout_ms)
        {
            self.sessions
                .insert(member_id.to_string(), now + i64::from(s));
        }
    }

    /// Drops a static member's previous incarnation without a group epoch bump: its
    /// successor keeps the same partitions and target.
    fn fence_quietly(&mut self, old: &str, successor: &ConsumerMember) {
        if let Some(prev) = self.members.remove(old) {
            for tp in assignment::partitions(&prev.assigned)
                .chain(assignment::partitions(&prev.pending_revocation))
            {
                self.owners.remove(&tp);
            }
        }
        if let Some(t) = self.target.remove(old) {
            self.target.insert(successor.id.clone(), t);
        }
        self.sessions.remove(old);
        self.rebalance_deadlines.remove(old);
        self.dirty = true;
    }
}

fn unknown(member_id: &str) -> GroupError {
    GroupError::UnknownMemberId(format!(
        "Member {member_id} is not a classic member of this group."
    ))
}

impl ConsumerMember {
    /// What a classic member's JoinGroup says of it: subscription, identity, timeouts
    /// and protocols (a classic member has no regex or server assignor).
    pub(crate) fn take_classic_join(&mut self, join: &ClassicJoin) {
        let mut names = join.topics.clone();
        names.sort();
        names.dedup();
        self.subscribed_topic_names = names;
        self.subscribed_topic_regex = None;
        self.server_assignor = None;
        self.instance_id = join.instance_id.clone();
        self.rack_id = join.rack_id.clone();
        self.client_id = join.client_id.clone();
        self.client_host = join.client_host.clone();
        self.rebalance_timeout_ms = join.rebalance_timeout_ms;
        self.classic = Some(ClassicMember {
            session_timeout_ms: join.session_timeout_ms,
            protocols: join.protocols.clone(),
        });
    }
}
