//! Classic members in a live consumer group (Kafka 4.x's mixed groups): JoinGroup,
//! SyncGroup, Heartbeat and LeaveGroup addressed to a consumer group with members
//! are served by `fjord_group::ConsumerGroup`'s classic calls instead of being
//! refused. This edge decodes the ConsumerProtocol subscription from the member's
//! JoinGroup metadata and encodes its assignment for SyncGroup; the state machine
//! decides everything else. Each `mixed_*` returns `None` when the group is not such
//! a group, so the classic path runs unchanged.

use super::consumer::error_code;
use super::coordinator::{Coordinator, StoreRecord};
use super::state::GroupState;
use super::{JoinRequest, JoinResponse, SyncRequest, SyncResponse};
use bytes::{Bytes, BytesMut};
use fjord_group::{Assignment, ClassicJoin, Topics};
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition,
};
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The ConsumerProtocol's protocol type: only consumers can join a consumer group.
const CONSUMER: &str = "consumer";

impl Coordinator {
    fn is_live_consumer_group(&self, id: &str) -> bool {
        self.groups
            .get(id)
            .and_then(|g| g.consumer.as_deref())
            .is_some_and(|c| !c.is_empty())
    }

    /// JoinGroup to a live consumer group (Kafka's `classicGroupJoinToConsumerGroup`).
    pub(crate) fn mixed_join(&mut self, now: i64, req: &JoinRequest) -> Option<JoinResponse> {
        if !self.is_live_consumer_group(&req.group_id) {
            return None;
        }
        let error = |e: E| Some(JoinResponse::error(e, &req.member_id));
        if req.protocol_type != CONSUMER || req.protocols.is_empty() {
            return error(E::InconsistentGroupProtocol);
        }
        let mut member_id = req.member_id.clone();
        if member_id.is_empty() {
            member_id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
            if req.instance_id.is_none() && req.require_known_member_id {
                // KIP-394, as for a classic group: the id comes back in a rejoin.
                return Some(JoinResponse::error(E::MemberIdRequired, &member_id));
            }
        }
        let Some((topics, owned)) = decode_subscription(&req.protocols[0].1) else {
            return error(E::InconsistentGroupProtocol);
        };
        let join = ClassicJoin {
            member_id: member_id.clone(),
            instance_id: req.instance_id.clone(),
            rack_id: None,
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols.clone(),
            topics,
            owned,
        };
        let config = self.config.consumer.clone();
        let view = self.topics.clone();
        let cg = self.groups.get_mut(&req.group_id)?.consumer.as_mut()?;
        let result = cg.classic_join(now, join, &view, &config);
        self.record_consumer(&req.group_id);
        Some(match result {
            Ok(joined) => JoinResponse {
                error: None,
                generation: joined.generation,
                protocol_type: Some(CONSUMER.to_string()),
                protocol_name: Some(joined.protocol_name),
                // No leader: the assignment is the coordinator's, and every classic
                // member syncs as a follower.
                leader: String::new(),
                member_id,
                members: Vec::new(),
                skip_assignment: false,
            },
            Err(e) => JoinResponse::error(error_code(&e), &member_id),
        })
    }

    /// SyncGroup to a consumer group: the member's partitions, ConsumerProtocol-encoded.
    pub(crate) fn mixed_sync(&mut self, now: i64, req: &SyncRequest) -> Option<SyncResponse> {
        self.groups.get(&req.group_id)?.consumer.as_ref()?;
        let view = self.topics.clone();
        let cg = self.groups.get_mut(&req.group_id)?.consumer.as_mut()?;
        let result = cg.classic_sync(
            now,
            &req.member_id,
            req.instance_id.as_deref(),
            req.generation,
        );
        Some(match result {
            Ok(assigned) => SyncResponse {
                error: None,
                protocol_type: Some(CONSUMER.to_string()),
                protocol_name: cg
                    .members
                    .get(&req.member_id)
                    .and_then(|m| m.classic.as_ref())
                    .and_then(|c| c.protocols.first())
                    .map(|(n, _)| n.clone()),
                assignment: encode_assignment(&assigned, &view),
            },
            Err(e) => SyncResponse::error(error_code(&e)),
        })
    }

    /// Heartbeat to a consumer group: `Some(None)` is success.
    pub(crate) fn mixed_heartbeat(
        &mut self,
        now: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<Option<E>> {
        let config = self.config.consumer.clone();
        let view = self.topics.clone();
        let cg = self.groups.get_mut(group_id)?.consumer.as_mut()?;
        let result = cg.classic_heartbeat(now, member_id, instance_id, generation, &view, &config);
        self.record_consumer(group_id);
        Some(result.err().map(|e| error_code(&e)))
    }

    /// One LeaveGroup member of a consumer group: `Some(None)` is success.
    pub(crate) fn mixed_leave(
        &mut self,
        now: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<Option<E>> {
        let cg = self.groups.get_mut(group_id)?.consumer.as_mut()?;
        let result = cg.classic_leave(member_id, instance_id);
        if result.is_ok() {
            tracing::info!(
                group = group_id,
                member = member_id,
                "classic member left a consumer group"
            );
            self.maybe_downgrade(group_id, now);
        }
        self.record_consumer(group_id);
        Some(result.err().map(|e| error_code(&e)))
    }
}

/// Subscribed topic names and owned (topic, partition) pairs.
type Subscription = (Vec<String>, Vec<(String, i32)>);

/// Subscribed topics and owned partitions of a ConsumerProtocolSubscription.
fn decode_subscription(metadata: &Bytes) -> Option<Subscription> {
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    // Newer versions only append fields: read them as the newest we know.
    let sub = ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3)).ok()?;
    let topics = sub.topics.iter().map(|t| t.to_string()).collect();
    let owned = sub
        .owned_partitions
        .iter()
        .flat_map(|tp| tp.partitions.iter().map(|p| (tp.topic.to_string(), *p)))
        .collect();
    Some((topics, owned))
}

/// A ConsumerProtocolAssignment v0 (understood by every client version).
fn encode_assignment(a: &Assignment, topics: &Topics) -> Bytes {
    let assigned_partitions = a
        .iter()
        .filter_map(|(id, ps)| {
            let name = topics.name_of(id)?;
            Some(
                TopicPartition::default()
                    .with_topic(TopicName(StrBytes::from_string(name.to_string())))
                    .with_partitions(ps.iter().copied().collect()),
            )
        })
        .collect();
    let msg = ConsumerProtocolAssignment::default().with_assigned_partitions(assigned_partitions);
    let mut buf = BytesMut::new();
    bytes::BufMut::put_i16(&mut buf, 0);
    if msg.encode(&mut buf, 0).is_err() {
        return Bytes::new();
    }
    buf.freeze()
}

/// The partitions in a ConsumerProtocolAssignment (`None`: malformed).
fn decode_assignment(bytes: &Bytes) -> Option<Vec<(String, i32)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let mut buf = bytes.clone();
    if buf.len() < 2 {
        return None;
    }
    let version = bytes::Buf::get_i16(&mut buf);
    let a = ConsumerProtocolAssignment::decode(&mut buf, version.clamp(0, 3)).ok()?;
    Some(
        a.assigned_partitions
            .iter()
            .flat_map(|tp| tp.partitions.iter().map(|p| (tp.topic.to_string(), *p)))
            .collect(),
    )
}

impl Coordinator {
    /// Kafka's `validateOnlineUpgrade`: a ConsumerGroupHeartbeat joining a live classic
    /// group converts it when the policy allows upgrades, the group's members are
    /// consumers (protocol type `consumer`) and they fit the consumer group size.
    pub(crate) fn can_upgrade(&self, id: &str) -> bool {
        let Some(g) = self.groups.get(id) else {
            return false;
        };
        let policy = self.config.consumer.migration_policy;
        if !policy.upgrade_enabled() {
            tracing::info!(group = id, "cannot upgrade the classic group: group.consumer.migration.policy does not allow it");
            return false;
        }
        if g.protocol_type.as_deref() != Some(CONSUMER) {
            tracing::info!(
                group = id,
                "cannot upgrade the classic group: it is not a group of consumers"
            );
            return false;
        }
        if g.members.len() as u64 > u64::from(self.config.consumer.max_size) {
            tracing::info!(group = id, "cannot upgrade the classic group: it has more members than group.consumer.max.size");
            return false;
        }
        true
    }

    /// Kafka's `convertToConsumerGroup`: the classic members become classic members of
    /// a consumer group at their generation, keeping their partitions; parked JoinGroup
    /// and SyncGroup requests learn of the new rebalance. A member whose subscription
    /// or assignment cannot be read fails the upgrade (GROUP_ID_NOT_FOUND, as Kafka).
    pub(crate) fn upgrade(&mut self, id: &str, now: i64) -> Result<(), fjord_group::GroupError> {
        let view = self.topics.clone();
        let Some(g) = self.groups.get_mut(id) else {
            return Err(fjord_group::GroupError::GroupIdNotFound(format!(
                "Group {id} not found."
            )));
        };
        let malformed = || {
            fjord_group::GroupError::GroupIdNotFound(format!(
                "Cannot upgrade the classic group {id} to consumer group because the embedded consumer protocol is malformed."
            ))
        };
        let mut imports = Vec::with_capacity(g.members.len());
        for m in g.members.values() {
            let metadata = match &g.protocol_name {
                Some(p) => m.metadata(p),
                None => m
                    .protocols
                    .first()
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default(),
            };
            let (topics, _) = decode_subscription(&metadata).ok_or_else(malformed)?;
            let assigned = decode_assignment(&m.assignment).ok_or_else(malformed)?;
            imports.push(fjord_group::ClassicImport {
                join: ClassicJoin {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: None,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: m.protocols.clone(),
                    topics,
                    owned: Vec::new(),
                },
                assigned,
            });
        }
        for m in g.members.values_mut() {
            if let Some(tx) = m.awaiting_join.take() {
                self.out
                    .joins
                    .push((tx, JoinResponse::error(E::RebalanceInProgress, &m.id)));
            }
            if let Some(tx) = m.awaiting_sync.take() {
                self.out
                    .syncs
                    .push((tx, SyncResponse::error(E::RebalanceInProgress)));
            }
        }
        let cg = fjord_group::ConsumerGroup::from_classic(id, g.generation, imports, &view, now);
        tracing::info!(
            group = id,
            generation = g.generation,
            members = g.members.len(),
            "live classic group upgraded to a consumer group"
        );
        // What is left of the classic group is the holder of the offsets, as for any
        // consumer group here (`consumer.rs`); a new group, so its state is set, not
        // transitioned.
        g.members.clear();
        g.static_members.clear();
        g.pending_members.clear();
        g.pending_sync.clear();
        g.join_deadline_ms = None;
        g.initial_delay = None;
        g.sync_deadline_ms = None;
        g.protocol_type = None;
        g.protocol_name = None;
        g.leader = None;
        g.generation = 0;
        g.state = GroupState::Empty;
        g.state_timestamp_ms = now;
        g.consumer = Some(Box::new(cg));
        self.out.records.push(StoreRecord::Group {
            group: id.to_string(),
            value: None,
        });
        self.record_consumer(id);
        Ok(())
    }

    /// Kafka's online downgrade (`validateOnlineDowngradeWithFencedMember`, then
    /// `convertToClassicGroup`), checked after a member left or was fenced: when every
    /// member left is a classic one, the policy allows it and they fit `group.max.size`,
    /// the group becomes a classic group at the group epoch, each member holding its
    /// target assignment, and a rebalance starts so that they elect a leader.
    pub(crate) fn maybe_downgrade(&mut self, id: &str, now: i64) {
        let policy = self.config.consumer.migration_policy;
        let max = self.config.max_size;
        let view = self.topics.clone();
        let Some(g) = self.groups.get_mut(id) else {
            return;
        };
        let Some(cg) = g.consumer.as_deref() else {
            return;
        };
        if !cg.only_classic_members() {
            return;
        }
        if !policy.downgrade_enabled() {
            tracing::info!(group = id, "cannot downgrade the consumer group: group.consumer.migration.policy does not allow it");
            return;
        }
        if cg.members.len() > max {
            tracing::info!(
                group = id,
                "cannot downgrade the consumer group: it has more members than group.max.size"
            );
            return;
        }
        let Some(cg) = g.consumer.take() else {
            return;
        };
        let empty = Assignment::new();
        for m in cg.members.values() {
            let Some(classic) = &m.classic else {
                continue;
            };
            let target = cg.target.get(&m.id).unwrap_or(&empty);
            if let Some(i) = &m.instance_id {
                g.static_members.insert(i.clone(), m.id.clone());
            }
            g.members.insert(
                m.id.clone(),
                super::member::Member {
                    id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: classic.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocol_type: CONSUMER.to_string(),
                    protocols: classic.protocols.clone(),
                    assignment: encode_assignment(target, &view),
                    awaiting_join: None,
                    awaiting_sync: None,
                    is_new: false,
                    deadline_ms: now + i64::from(classic.session_timeout_ms),
                },
            );
        }
        g.generation = cg.epoch;
        g.protocol_type = Some(CONSUMER.to_string());
        g.protocol_name = g.select_protocol();
        g.leader = None;
        g.state = GroupState::Stable;
        g.state_timestamp_ms = now;
        tracing::info!(
            group = id,
            generation = g.generation,
            members = g.members.len(),
            "consumer group downgraded to a classic group"
        );
        self.out.records.push(StoreRecord::Consumer {
            group: id.to_string(),
            value: None,
        });
        self.store_group(id);
        self.prepare_rebalance(id, now);
        self.reschedule(id);
    }
}
