//! One member of a consumer group (KIP-848), as Kafka's `ConsumerGroupMember`: what it
//! subscribes to, its epoch, and where its reconciliation stands.

use crate::assignment::Assignment;

/// Where a member's reconciliation stands (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Owns exactly its assignment at its epoch.
    Stable,
    /// Must give up `pending_revocation` before its epoch can advance.
    UnrevokedPartitions,
    /// At the target epoch but some target partitions are still owned by others.
    UnreleasedPartitions,
}

impl MemberState {
    pub fn code(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        }
    }

    pub fn from_code(c: i8) -> Option<MemberState> {
        match c {
            0 => Some(MemberState::Stable),
            1 => Some(MemberState::UnrevokedPartitions),
            2 => Some(MemberState::UnreleasedPartitions),
            _ => None,
        }
    }
}

/// A member's persisted state. Session and rebalance deadlines are runtime only and
/// live in the group, so equality here means "nothing to persist".
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerMember {
    pub id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The epoch of the assignment the member holds; -2 while a static member is away.
    pub epoch: i32,
    /// The epoch before the last bump: a heartbeat that lost its response may come with it.
    pub previous_epoch: i32,
    pub state: MemberState,
    pub rebalance_timeout_ms: i32,
    /// Sorted, without duplicates.
    pub subscribed_topic_names: Vec<String>,
    /// `None` (or empty): no regex subscription.
    pub subscribed_topic_regex: Option<String>,
    /// The assignor the member asks for.
    pub server_assignor: Option<String>,
    /// Partitions the member owns and may keep.
    pub assigned: Assignment,
    /// Partitions the member still owns but must give up.
    pub pending_revocation: Assignment,
    /// Set for a member that speaks the classic protocol (JoinGroup/SyncGroup).
    pub classic: Option<crate::ClassicMember>,
}

impl ConsumerMember {
    pub fn new(id: &str) -> ConsumerMember {
        ConsumerMember {
            id: id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            rebalance_timeout_ms: -1,
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            classic: None,
        }
    }

    /// Holds exactly its target at the target epoch.
    pub fn is_reconciled_to(&self, target_epoch: i32) -> bool {
        self.state == MemberState::Stable && self.epoch == target_epoch
    }

    /// The regex, when it is set and not empty.
    pub fn regex(&self) -> Option<&str> {
        self.subscribed_topic_regex
            .as_deref()
            .filter(|r| !r.is_empty())
    }

    /// Moves to `epoch`, remembering the previous one (Kafka's `updateMemberEpoch`).
    pub fn set_epoch(&mut self, epoch: i32) {
        self.previous_epoch = self.epoch;
        self.epoch = epoch;
    }
}
