//! One member of a classic (join/sync) group, as the coordinator tracks it.

use super::{JoinResponse, SyncResponse};
use bytes::Bytes;
use tokio::sync::oneshot;

/// Where a parked JoinGroup or SyncGroup response is delivered.
pub type JoinReply = oneshot::Sender<JoinResponse>;
pub type SyncReply = oneshot::Sender<SyncResponse>;

/// How long a member that has not yet completed its first join may stay parked
/// (Kafka's `NewMemberJoinTimeoutMs`): it cannot heartbeat, and a client that gave
/// up and retried would otherwise leave a defunct member in the rebalance.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 5 * 60 * 1000;

/// A group member. Not shared: owned by its group inside the coordinator.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// What the leader assigned it in the current generation.
    pub assignment: Bytes,
    /// Set while its JoinGroup is parked in a rebalance.
    pub awaiting_join: Option<JoinReply>,
    /// Set while its SyncGroup waits for the leader's assignment.
    pub awaiting_sync: Option<SyncReply>,
    /// Joined but not yet answered once: it has no way to heartbeat.
    pub is_new: bool,
    /// The session expires at this time unless a heartbeat (or join/sync) moves it.
    pub deadline_ms: i64,
}

impl Member {
    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(n, _)| n == protocol)
    }

    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Same protocols, same metadata, same order: a rejoin that changes nothing.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Restarts the session clock.
    pub fn heartbeat(&mut self, now: i64) {
        self.deadline_ms = now + i64::from(self.session_timeout_ms);
    }

    /// Members in the middle of a rebalance satisfy their heartbeat by waiting, except
    /// new ones, which are bounded by the new-member join timeout instead.
    pub fn has_expired(&self, now: i64) -> bool {
        self.can_expire() && now >= self.deadline_ms
    }

    /// Whether the session clock runs at all right now.
    pub fn can_expire(&self) -> bool {
        self.is_new || (self.awaiting_join.is_none() && self.awaiting_sync.is_none())
    }
}
