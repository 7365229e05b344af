//! Offset commits and fetches checked against member epochs (Kafka's
//! `ConsumerGroup.validateOffsetCommit` / `validateOffsetFetch`).

use crate::error::GroupError;
use crate::group::ConsumerGroup;

/// The first OffsetCommit version a consumer-protocol member may use.
const COMMIT_VERSION_FOR_CONSUMER_PROTOCOL: i16 = 9;

impl ConsumerGroup {
    /// OffsetCommit: a negative epoch is accepted only while the group is empty (an
    /// admin or a consumer outside group management); otherwise the member must exist
    /// (UNKNOWN_MEMBER_ID), use v9+ (UNSUPPORTED_VERSION) and send its current epoch
    /// (STALE_MEMBER_EPOCH).
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        member_epoch: i32,
        api_version: i16,
    ) -> Result<(), GroupError> {
        if member_epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let Some(m) = self.members.get(member_id) else {
            return Err(GroupError::UnknownMemberId(format!(
                "Member {member_id} is not a member of group {}.",
                self.id
            )));
        };
        if m.classic.is_some() {
            // A classic member of a mixed group commits as classic clients do: any
            // version, its generation being its member epoch (Kafka's
            // `validateOffsetCommit` for classic members).
            if member_epoch != m.epoch {
                return Err(GroupError::IllegalGeneration(format!(
                    "The member {member_id} has generation {member_epoch}; the coordinator knows {}.",
                    m.epoch
                )));
            }
            return Ok(());
        }
        if api_version < COMMIT_VERSION_FOR_CONSUMER_PROTOCOL {
            return Err(GroupError::UnsupportedVersion(
                "OffsetCommit version 9 or above must be used by members using the consumer group protocol".into(),
            ));
        }
        if member_epoch != m.epoch {
            return Err(stale(member_epoch, m.epoch));
        }
        Ok(())
    }

    /// OffsetFetch v9+: with no member id and a negative epoch anyone may read;
    /// otherwise the member must exist and send its current epoch.
    pub fn validate_offset_fetch(
        &self,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        let Some(member_id) = member_id else {
            if member_epoch < 0 {
                return Ok(());
            }
            return Err(GroupError::UnknownMemberId(
                "A member epoch without a member id.".into(),
            ));
        };
        let Some(m) = self.members.get(member_id) else {
            return Err(GroupError::UnknownMemberId(format!(
                "Member {member_id} is not a member of group {}.",
                self.id
            )));
        };
        if member_epoch != m.epoch {
            return Err(stale(member_epoch, m.epoch));
        }
        Ok(())
    }
}

fn stale(received: i32, expected: i32) -> GroupError {
    GroupError::StaleMemberEpoch(format!(
        "The received member epoch {received} does not match the expected member epoch {expected}."
    ))
}
