//! A classic group's data: members, generation, chosen protocol, timers and offsets.
//! The rules that move it between states live in `rebalance.rs` and `offsets.rs`.

use super::member::Member;
use super::offsets::CommittedOffset;
use super::state::GroupState;
use std::collections::{BTreeMap, BTreeSet};

/// The first rebalance of an Empty group waits `group.initial.rebalance.delay.ms` for
/// more members, extended while new ones arrive, never past the rebalance timeout
/// (Kafka's `InitialDelayedJoin`).
#[derive(Debug, Clone, Copy)]
pub struct InitialDelay {
    pub deadline_ms: i64,
    pub remaining_ms: i64,
    pub new_member_added: bool,
}

/// One group. Owned by the coordinator; not shared between threads.
#[derive(Debug)]
pub struct ClassicGroup {
    pub id: String,
    pub state: GroupState,
    /// When `state` last changed: offset expiry of an Empty group counts from it.
    pub state_timestamp_ms: i64,
    pub generation: i32,
    /// Set by the first member to join; `None` for a group that only stores offsets.
    pub protocol_type: Option<String>,
    /// The protocol chosen for the current generation.
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// By member id (ordered, so leader choice is deterministic).
    pub members: BTreeMap<String, Member>,
    /// `group.instance.id` -> member id of static members.
    pub static_members: BTreeMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they lapse.
    pub pending_members: BTreeMap<String, i64>,
    /// Members of this generation that have not sent SyncGroup yet.
    pub pending_sync: BTreeSet<String>,
    /// PreparingRebalance: the join completes at this time even if members are missing.
    pub join_deadline_ms: Option<i64>,
    pub initial_delay: Option<InitialDelay>,
    /// CompletingRebalance/Stable: members still in `pending_sync` are dropped at this time.
    pub sync_deadline_ms: Option<i64>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// The deadline of this group's live entry in the coordinator's timer heap.
    pub(crate) scheduled_ms: Option<i64>,
    /// Set when this id is a KIP-848 consumer group (`consumer.rs`): it then has no
    /// classic members, and only its offsets live in the fields above.
    pub consumer: Option<Box<fjord_group::ConsumerGroup>>,
}

impl ClassicGroup {
    pub fn new(id: &str, now: i64) -> ClassicGroup {
        ClassicGroup {
            id: id.to_string(),
            state: GroupState::Empty,
            state_timestamp_ms: now,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            join_deadline_ms: None,
            initial_delay: None,
            sync_deadline_ms: None,
            offsets: BTreeMap::new(),
            scheduled_ms: None,
            consumer: None,
        }
    }

    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub fn transition(&mut self, to: GroupState, now: i64) {
        debug_assert!(
            to.can_follow(self.state),
            "group {}: {:?} -> {:?}",
            self.id,
            self.state,
            to
        );
        self.state = to;
        self.state_timestamp_ms = now;
    }

    /// Kafka's `ClassicGroup.validateMember`, shared by SyncGroup, Heartbeat,
    /// LeaveGroup, OffsetCommit and a known member's JoinGroup. Order:
    /// 1. an instance id that maps to no member -> UNKNOWN_MEMBER_ID;
    /// 2. an instance id mapped to another member id -> FENCED_INSTANCE_ID;
    /// 3. a member id that is not in the group -> UNKNOWN_MEMBER_ID.
    ///
    /// The generation is checked by each caller afterwards (Kafka does the same).
    pub fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), kafka_protocol::error::ResponseError> {
        use kafka_protocol::error::ResponseError as E;
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                None => return Err(E::UnknownMemberId),
                Some(current) if current != member_id => return Err(E::FencedInstanceId),
                Some(_) => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(E::UnknownMemberId);
        }
        Ok(())
    }

    /// [`ClassicGroup::validate_member`], then the generation (ILLEGAL_GENERATION).
    pub fn validate_member_generation(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), kafka_protocol::error::ResponseError> {
        self.validate_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(kafka_protocol::error::ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    /// The earliest time any of this group's timers fires: the initial delay, the join
    /// or sync deadline, a pending member id lapsing, or a member session expiring.
    pub fn next_deadline(&self) -> Option<i64> {
        let sessions = self
            .members
            .values()
            .filter(|m| m.can_expire())
            .map(|m| m.deadline_ms);
        let pending = self.pending_members.values().copied();
        // The sync deadline only matters while someone has yet to sync.
        let sync = self
            .sync_deadline_ms
            .filter(|_| !self.pending_sync.is_empty());
        let group = [
            self.initial_delay.map(|d| d.deadline_ms),
            self.join_deadline_ms,
            sync,
            self.consumer.as_ref().and_then(|c| c.next_deadline()),
        ];
        sessions
            .chain(pending)
            .chain(group.into_iter().flatten())
            .min()
    }

    /// Kafka's `maybeElectNewJoinedLeader`: the leader must be a member that rejoined;
    /// if the current one did not, any member that did takes over. `false` when no
    /// member rejoined at all.
    pub fn elect_joined_leader(&mut self) -> bool {
        let current_joined = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.awaiting_join.is_some());
        if current_joined {
            return true;
        }
        let joined = self
            .members
            .values()
            .find(|m| m.awaiting_join.is_some())
            .map(|m| m.id.clone());
        match joined {
            Some(id) => {
                self.leader = Some(id);
                true
            }
            None => false,
        }
    }

    /// The longest rebalance timeout of the members: how long a join waits.
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// Protocols every member supports, in no particular order.
    fn candidate_protocols(&self) -> BTreeSet<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return BTreeSet::new();
        };
        let mut set: BTreeSet<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            set.retain(|p| m.supports(p));
        }
        set
    }

    /// Whether a joining member with these protocols can be in this group.
    pub fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, bytes::Bytes)],
    ) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = self.candidate_protocols();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Kafka's vote: each member votes for its most preferred protocol that all members
    /// support; the most votes win (ties go to the protocol named first by the leader).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(name).or_default() += 1;
            }
        }
        let order: Vec<&str> = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .or_else(|| self.members.values().next())
            .map(|m| m.protocols.iter().map(|(n, _)| n.as_str()).collect())
            .unwrap_or_default();
        let best = votes.values().copied().max()?;
        order
            .into_iter()
            .find(|p| votes.get(p) == Some(&best))
            .or_else(|| votes.iter().find(|(_, v)| **v == best).map(|(p, _)| *p))
            .map(str::to_string)
    }

    /// Topics the members subscribe to, when the group uses the `consumer` protocol and
    /// every subscription parses; `None` means "unknown" (treated as all topics).
    pub fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(parse_subscription(&m.metadata(protocol))?);
        }
        Some(topics)
    }
}

/// The topics of a `ConsumerProtocolSubscription` (any version: the topic list is
/// always the first field after the version).
pub fn parse_subscription(bytes: &[u8]) -> Option<Vec<String>> {
    let mut buf = bytes;
    let take = |buf: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        let (head, tail) = (buf.get(..n)?, buf.get(n..)?);
        *buf = tail;
        Some(head.to_vec())
    };
    take(&mut buf, 2)?; // version
    let count = i32::from_be_bytes(take(&mut buf, 4)?.try_into().ok()?);
    let count = usize::try_from(count).ok()?;
    let mut topics = Vec::with_capacity(count.min(buf.len() / 2));
    for _ in 0..count {
        let len = i16::from_be_bytes(take(&mut buf, 2)?.try_into().ok()?);
        let name = take(&mut buf, usize::try_from(len).ok()?)?;
        topics.push(String::from_utf8(name).ok()?);
    }
    Some(topics)
}
