//! The one error type of this crate. Every variant is a Kafka error code that the caller puts in
//! its response (`code()`), with the message Kafka gives (`to_string()`), so nothing here needs a
//! Kafka library.

/// A refused controller operation, as the Kafka error code and message the client will see.
///
/// Variants that carry a `String` hold Kafka's own message for that case; the others display
/// Kafka's default description of the code (Kafka answers those with a null message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    /// UNKNOWN_TOPIC_OR_PARTITION (3).
    #[error("{0}")]
    UnknownTopicOrPartition(String),
    /// INVALID_PARTITIONS (37).
    #[error("{0}")]
    InvalidPartitions(String),
    /// INVALID_REPLICATION_FACTOR (38).
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// INVALID_REPLICA_ASSIGNMENT (39).
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// NOT_CONTROLLER (41): the request carries a newer epoch than ours, so we are likely a stale
    /// controller and the sender should look for the new one.
    #[error("This is not the correct controller for this cluster.")]
    NotController,
    /// INVALID_REQUEST (42).
    #[error("{0}")]
    InvalidRequest(String),
    /// POLICY_VIOLATION (44): Kafka's answer when one request would create more than 10,000
    /// metadata records.
    #[error("Unable to perform excessively large batch operation.")]
    PolicyViolation,
    /// OPERATION_NOT_ATTEMPTED (55): AlterPartition v0/v1's answer for an ineligible replica.
    #[error("The broker did not attempt to execute this operation.")]
    OperationNotAttempted,
    /// FENCED_LEADER_EPOCH (74).
    #[error("The leader epoch in the request is older than the epoch on the broker.")]
    FencedLeaderEpoch,
    /// STALE_BROKER_EPOCH (77).
    #[error("{0}")]
    StaleBrokerEpoch(String),
    /// PREFERRED_LEADER_NOT_AVAILABLE (80).
    #[error("The preferred leader was not available.")]
    PreferredLeaderNotAvailable,
    /// ELIGIBLE_LEADERS_NOT_AVAILABLE (83).
    #[error("Eligible topic partition leaders are not available.")]
    EligibleLeadersNotAvailable,
    /// ELECTION_NOT_NEEDED (84).
    #[error("Leader election not needed for topic partition.")]
    ElectionNotNeeded,
    /// NO_REASSIGNMENT_IN_PROGRESS (85): a cancellation of a partition that is not moving.
    #[error("No partition reassignment is in progress.")]
    NoReassignmentInProgress,
    /// INVALID_UPDATE_VERSION (95): a stale partition epoch in AlterPartition.
    #[error("The given update version was invalid.")]
    InvalidUpdateVersion,
    /// DUPLICATE_BROKER_REGISTRATION (101).
    #[error("{0}")]
    DuplicateBrokerRegistration(String),
    /// BROKER_ID_NOT_REGISTERED (102).
    #[error("{0}")]
    BrokerIdNotRegistered(String),
    /// INELIGIBLE_REPLICA (107): a fenced, shutting-down, unknown or re-registered broker in a
    /// proposed ISR. The string names the replicas and why, for the controller's log.
    #[error("{0}")]
    IneligibleReplica(String),
    /// NEW_LEADER_ELECTED (108).
    #[error("The AlterPartition request successfully updated the partition state but the leader has changed.")]
    NewLeaderElected,
}

impl ControllerError {
    /// The Kafka error code to put in the response.
    pub fn code(&self) -> i16 {
        match self {
            Self::UnknownTopicOrPartition(_) => 3,
            Self::InvalidPartitions(_) => 37,
            Self::InvalidReplicationFactor(_) => 38,
            Self::InvalidReplicaAssignment(_) => 39,
            Self::NotController => 41,
            Self::InvalidRequest(_) => 42,
            Self::PolicyViolation => 44,
            Self::OperationNotAttempted => 55,
            Self::FencedLeaderEpoch => 74,
            Self::StaleBrokerEpoch(_) => 77,
            Self::PreferredLeaderNotAvailable => 80,
            Self::EligibleLeadersNotAvailable => 83,
            Self::ElectionNotNeeded => 84,
            Self::NoReassignmentInProgress => 85,
            Self::InvalidUpdateVersion => 95,
            Self::DuplicateBrokerRegistration(_) => 101,
            Self::BrokerIdNotRegistered(_) => 102,
            Self::IneligibleReplica(_) => 107,
            Self::NewLeaderElected => 108,
        }
    }

    /// The message for the response's `error_message` field where the API has one. Kafka sends
    /// null for the codes it raises without a message; so do we.
    pub fn message(&self) -> Option<String> {
        match self {
            Self::UnknownTopicOrPartition(m)
            | Self::InvalidPartitions(m)
            | Self::InvalidReplicationFactor(m)
            | Self::InvalidReplicaAssignment(m)
            | Self::InvalidRequest(m)
            | Self::StaleBrokerEpoch(m)
            | Self::DuplicateBrokerRegistration(m)
            | Self::BrokerIdNotRegistered(m)
            | Self::IneligibleReplica(m) => Some(m.clone()),
            Self::PolicyViolation => Some(self.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(
            ControllerError::InvalidReplicationFactor(String::new()).code(),
            38
        );
        assert_eq!(
            ControllerError::InvalidReplicaAssignment(String::new()).code(),
            39
        );
        assert_eq!(ControllerError::StaleBrokerEpoch(String::new()).code(), 77);
        assert_eq!(ControllerError::InvalidUpdateVersion.code(), 95);
        assert_eq!(
            ControllerError::IneligibleReplica(String::new()).code(),
            107
        );
        assert_eq!(ControllerError::NewLeaderElected.code(), 108);
        assert_eq!(ControllerError::ElectionNotNeeded.code(), 84);
    }

    #[test]
    fn codes_raised_without_a_message_have_a_null_message() {
        assert_eq!(ControllerError::ElectionNotNeeded.message(), None);
        assert_eq!(
            ControllerError::InvalidReplicaAssignment("x".into()).message(),
            Some("x".into())
        );
    }
}
