//! KIP-848 consumer groups inside the coordinator's shard: the edge between the
//! sans-IO `fjord_group::ConsumerGroup` and the classic coordinator that owns group
//! ids, committed offsets, timers and `__consumer_offsets` records.
//!
//! A group id names one entry in the shard. A consumer group is that entry with
//! `consumer` set: it has no classic members (its classic state stays Empty), and its
//! offsets live where a classic group's do. Conversions (Kafka 4's upgrade/downgrade of
//! an empty group; offsets are kept):
//! - a ConsumerGroupHeartbeat (epoch 0) to an empty classic group makes it a consumer
//!   group; to a classic group with members it upgrades the group online when
//!   `group.consumer.migration.policy` allows it (`mixed.rs`: the classic members keep
//!   their partitions at their generation), else GROUP_ID_NOT_FOUND as in Kafka;
//! - a JoinGroup to an empty consumer group makes it a classic group again; to a
//!   consumer group with members it admits the classic member into the consumer
//!   group (Kafka 4's mixed groups, `mixed.rs`): its Heartbeat, SyncGroup and
//!   LeaveGroup are then the consumer group's. When a member leaves or is fenced and
//!   only classic members remain, the group is downgraded online (policy allowing)
//!   and rebalances as a classic group. Kafka also downgrades at once when a classic
//!   static member replaces the last consumer-protocol one; Fjord keeps such a group
//!   a consumer group until a member leaves.
//! - DescribeGroups shows a consumer group as Dead (Kafka
//!   before DescribeGroups v6: "not a classic group"); ConsumerGroupDescribe of a
//!   classic group gets GROUP_ID_NOT_FOUND.

use super::classic::ClassicGroup;
use super::coordinator::{Coordinator, StoreRecord};
use super::state::GroupState;
use fjord_group::{ConsumerGroup, GroupError, HeartbeatRequest, HeartbeatResponse, Topics};
use kafka_protocol::error::ResponseError as E;

/// Maps a consumer-group error to Kafka's code.
pub fn error_code(e: &GroupError) -> E {
    match e {
        GroupError::InvalidRequest(_) => E::InvalidRequest,
        GroupError::UnsupportedAssignor(_) => E::UnsupportedAssignor,
        GroupError::InvalidRegularExpression(_) => E::InvalidRegularExpression,
        GroupError::GroupIdNotFound(_) => E::GroupIdNotFound,
        GroupError::GroupMaxSizeReached(_) => E::GroupMaxSizeReached,
        GroupError::UnknownMemberId(_) => E::UnknownMemberId,
        GroupError::FencedMemberEpoch(_) => E::FencedMemberEpoch,
        GroupError::StaleMemberEpoch(_) => E::StaleMemberEpoch,
        GroupError::FencedInstanceId(_) => E::FencedInstanceId,
        GroupError::UnreleasedInstanceId(_) => E::UnreleasedInstanceId,
        GroupError::UnsupportedVersion(_) => E::UnsupportedVersion,
        GroupError::IllegalGeneration(_) => E::IllegalGeneration,
        GroupError::RebalanceInProgress => E::RebalanceInProgress,
    }
}

fn not_found(id: &str) -> GroupError {
    GroupError::GroupIdNotFound(format!("Group {id} is not a consumer group."))
}

impl Coordinator {
    /// ConsumerGroupHeartbeat: validation, then the group's lookup (creating or
    /// converting it for epoch 0), then the group's own transition; the group's new
    /// state is recorded when it changed.
    pub fn consumer_heartbeat(
        &mut self,
        now: i64,
        req: HeartbeatRequest,
        topics: &Topics,
    ) -> Result<HeartbeatResponse, GroupError> {
        let config = self.config.consumer.clone();
        fjord_group::validate(&req, &config)?;
        let id = req.group_id.clone();
        let leaving = req.member_epoch < 0;
        let create = req.member_epoch == 0;
        let live_classic = self
            .groups
            .get(&id)
            .is_some_and(|g| g.consumer.is_none() && !g.members.is_empty());
        if create && live_classic {
            if !self.can_upgrade(&id) {
                return Err(not_found(&id));
            }
            self.upgrade(&id, now)?;
        }
        match self.groups.get_mut(&id) {
            None if create => {
                let mut g = ClassicGroup::new(&id, now);
                g.consumer = Some(Box::new(ConsumerGroup::new(&id)));
                self.groups.insert(id.clone(), g);
            }
            None => return Err(not_found(&id)),
            Some(g) if g.consumer.is_some() => {}
            Some(g) if create && g.members.is_empty() && !g.is(GroupState::Dead) => {
                // Kafka 4's upgrade of an empty classic group: its offsets stay.
                tracing::info!(group = %id, "empty classic group converted to a consumer group");
                g.consumer = Some(Box::new(ConsumerGroup::new(&id)));
                g.protocol_type = None;
                g.protocol_name = None;
                g.leader = None;
                g.generation = 0;
                self.out.records.push(StoreRecord::Group {
                    group: id.clone(),
                    value: None,
                });
            }
            Some(_) => return Err(not_found(&id)),
        }
        let Some(g) = self.groups.get_mut(&id) else {
            return Err(not_found(&id));
        };
        let Some(cg) = g.consumer.as_mut() else {
            return Err(not_found(&id));
        };
        let result = cg.heartbeat(now, req, topics, &config);
        if leaving && result.is_ok() {
            tracing::info!(group = %id, "consumer group member left");
            self.maybe_downgrade(&id, now);
        }
        self.record_consumer(&id);
        self.reschedule(&id);
        result
    }

    /// Persists a consumer group whose state changed.
    pub(crate) fn record_consumer(&mut self, id: &str) {
        let Some(cg) = self.groups.get_mut(id).and_then(|g| g.consumer.as_mut()) else {
            return;
        };
        if cg.take_dirty() {
            let value = Some(cg.snapshot());
            self.out.records.push(StoreRecord::Consumer {
                group: id.to_string(),
                value,
            });
        }
    }

    /// A consumer group's timers (sessions, revocation deadlines).
    pub(crate) fn tick_consumer(&mut self, id: &str, now: i64) {
        let Some(cg) = self.groups.get_mut(id).and_then(|g| g.consumer.as_mut()) else {
            return;
        };
        let fenced = cg.tick(now);
        for m in &fenced {
            tracing::info!(group = id, member = %m, "consumer group member fenced (session or rebalance timeout)");
        }
        if !fenced.is_empty() {
            self.maybe_downgrade(id, now);
        }
        self.record_consumer(id);
    }

    /// JoinGroup to a consumer group: an empty one becomes classic again (Kafka 4's
    /// downgrade); one with members refuses the classic member.
    pub(crate) fn join_consumer_group(&mut self, id: &str) -> Option<E> {
        let g = self.groups.get_mut(id)?;
        let cg = g.consumer.as_ref()?;
        if !cg.is_empty() {
            return Some(E::InconsistentGroupProtocol);
        }
        tracing::info!(
            group = id,
            "empty consumer group converted to a classic group"
        );
        g.consumer = None;
        self.out.records.push(StoreRecord::Consumer {
            group: id.to_string(),
            value: None,
        });
        None
    }

    /// A consumer group, for ConsumerGroupDescribe (`Err`: unknown or classic).
    pub fn consumer_group(&self, id: &str) -> Result<&ConsumerGroup, GroupError> {
        self.groups
            .get(id)
            .filter(|g| !g.is(GroupState::Dead))
            .and_then(|g| g.consumer.as_deref())
            .ok_or_else(|| GroupError::GroupIdNotFound(format!("Group {id} not found.")))
    }

    /// OffsetFetch v9+ with a member id or epoch: checked against a consumer group's
    /// members (classic groups accept any, as in Kafka).
    pub fn validate_offset_fetch(
        &self,
        id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), E> {
        match self.groups.get(id).and_then(|g| g.consumer.as_deref()) {
            Some(cg) => cg
                .validate_offset_fetch(member_id, member_epoch)
                .map_err(|e| error_code(&e)),
            None => Ok(()),
        }
    }

    /// Replays a consumer group record from `__consumer_offsets`.
    pub(crate) fn replay_consumer(&mut self, group: String, value: Option<bytes::Bytes>, now: i64) {
        match value {
            Some(bytes) => {
                let session = self.config.consumer.session_timeout_ms;
                match ConsumerGroup::restore(&group, bytes, now, session) {
                    Ok(cg) => {
                        let g = self
                            .groups
                            .entry(group.clone())
                            .or_insert_with(|| ClassicGroup::new(&group, now));
                        g.consumer = Some(Box::new(cg));
                    }
                    Err(e) => {
                        tracing::warn!(group = %group, error = %e, "skipping a consumer group record")
                    }
                }
            }
            None => {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.consumer = None;
                }
            }
        }
    }
}
