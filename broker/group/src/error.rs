//! Kafka errors a consumer-group input can end in. The broker maps each to its wire
//! code; the message is what Kafka puts in `error_message`.

/// Why a ConsumerGroupHeartbeat, an offset commit or fetch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    UnsupportedAssignor(String),
    #[error("{0}")]
    InvalidRegularExpression(String),
    #[error("{0}")]
    GroupIdNotFound(String),
    #[error("The consumer group has reached its maximum capacity of {0} members.")]
    GroupMaxSizeReached(u32),
    #[error("{0}")]
    UnknownMemberId(String),
    #[error("{0}")]
    FencedMemberEpoch(String),
    #[error("{0}")]
    StaleMemberEpoch(String),
    #[error("{0}")]
    FencedInstanceId(String),
    #[error("{0}")]
    UnreleasedInstanceId(String),
    /// A classic member's generation is not its member epoch.
    #[error("{0}")]
    IllegalGeneration(String),
    /// A classic member must rejoin (its Heartbeat's answer).
    #[error("The group is rebalancing, so a rejoin is needed.")]
    RebalanceInProgress,
    /// OffsetCommit below v9 from a member that uses the consumer protocol.
    #[error("{0}")]
    UnsupportedVersion(String),
}
