//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and expiry, as Kafka's
//! `OffsetMetadataManager` and `ClassicGroup.validateOffsetCommit`.
//!
//! OffsetCommit's checks, in Kafka's order (the handler has already answered an
//! empty group id with INVALID_GROUP_ID and unknown partitions per partition):
//! 1. unknown group: generation < 0 creates an offsets-only group and commits;
//!    otherwise ILLEGAL_GENERATION (Kafka's answer before v9), GROUP_ID_NOT_FOUND
//!    from v9 on;
//!    a KIP-848 consumer group instead checks the member epoch
//!    (`ConsumerGroup::validate_offset_commit`: UNKNOWN_MEMBER_ID,
//!    UNSUPPORTED_VERSION below v9, STALE_MEMBER_EPOCH);
//! 2. Dead -> COORDINATOR_NOT_AVAILABLE;
//! 3. generation < 0 and the group Empty: commit (admin or a consumer outside group
//!    management);
//! 4. a generation, member id or instance id given: `validate_member` (unknown
//!    instance id or member, including an empty member id -> UNKNOWN_MEMBER_ID;
//!    another member's instance -> FENCED_INSTANCE_ID), then the generation
//!    (ILLEGAL_GENERATION); none of them given on a non-empty group ->
//!    UNKNOWN_MEMBER_ID;
//! 5. CompletingRebalance -> REBALANCE_IN_PROGRESS: the member is current but has not
//!    got its assignment, so it must not commit yet (a member of an older generation
//!    got ILLEGAL_GENERATION in step 4 and rejoins);
//! 6. then per partition: metadata longer than `offset.metadata.max.bytes` ->
//!    OFFSET_METADATA_TOO_LARGE. A commit in Stable or PreparingRebalance also
//!    restarts the member's session, as Kafka does.

use super::classic::ClassicGroup;
use super::coordinator::{Coordinator, OffsetUndo, StoreRecord};
use super::state::GroupState;
use kafka_protocol::error::ResponseError as E;

/// One committed offset, as stored in `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// An explicit expiry from OffsetCommit v2-v4's `retention_time_ms`.
    pub expire_timestamp_ms: Option<i64>,
}

/// An OffsetCommit request with version differences resolved.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub group_id: String,
    /// -1 for a commit from outside group management.
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    /// v2-v4 only; -1 for the broker default.
    pub retention_time_ms: i64,
    /// (topic, partition, offset, leader epoch, metadata)
    pub offsets: Vec<(String, i32, i64, i32, Option<String>)>,
    /// The OffsetCommit version (v9+ answers an unknown group with
    /// GROUP_ID_NOT_FOUND and is required from consumer-protocol members).
    pub api_version: i16,
}

/// One partition's answer to OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    /// -1 when nothing is committed.
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

impl Coordinator {
    /// OffsetCommit: each partition's error (`None`: committed).
    pub fn commit(&mut self, now: i64, req: CommitRequest) -> Vec<(String, i32, Option<E>)> {
        let group_error = self.commit_error(now, &req);
        let max = self.config.offset_metadata_max_bytes;
        let mut result = Vec::with_capacity(req.offsets.len());
        for (topic, partition, offset, leader_epoch, metadata) in req.offsets {
            let metadata = metadata.unwrap_or_default();
            let error = group_error.or((metadata.len() > max).then_some(E::OffsetMetadataTooLarge));
            if error.is_none() {
                let value = CommittedOffset {
                    offset,
                    leader_epoch,
                    metadata,
                    commit_timestamp_ms: now,
                    expire_timestamp_ms: (req.retention_time_ms >= 0)
                        .then(|| now.saturating_add(req.retention_time_ms)),
                };
                if let Some(g) = self.groups.get_mut(&req.group_id) {
                    let key = (topic.clone(), partition);
                    let previous = g.offsets.insert(key.clone(), value.clone());
                    self.out.undo.push(OffsetUndo {
                        group: req.group_id.clone(),
                        key,
                        previous,
                        written: value.clone(),
                    });
                }
                self.out.records.push(StoreRecord::Offset {
                    group: req.group_id.clone(),
                    topic: topic.clone(),
                    partition,
                    value: Some(value),
                });
            }
            result.push((topic, partition, error));
        }
        result
    }

    fn commit_error(&mut self, now: i64, req: &CommitRequest) -> Option<E> {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            if req.generation < 0 {
                let g = ClassicGroup::new(&req.group_id, now);
                self.groups.insert(req.group_id.clone(), g);
                return None;
            }
            if req.api_version >= 9 {
                return Some(E::GroupIdNotFound);
            }
            return Some(E::IllegalGeneration);
        };
        if g.is(GroupState::Dead) {
            return Some(E::CoordinatorNotAvailable);
        }
        if let Some(c) = &g.consumer {
            return c
                .validate_offset_commit(&req.member_id, req.generation, req.api_version)
                .err()
                .map(|e| super::consumer::error_code(&e));
        }
        if req.generation < 0 && g.is(GroupState::Empty) {
            return None;
        }
        if req.generation >= 0 || !req.member_id.is_empty() || req.instance_id.is_some() {
            if let Err(e) = g.validate_member_generation(
                &req.member_id,
                req.instance_id.as_deref(),
                req.generation,
            ) {
                return Some(e);
            }
        } else if !g.is(GroupState::Empty) {
            return Some(E::UnknownMemberId);
        }
        if g.is(GroupState::CompletingRebalance) {
            return Some(E::RebalanceInProgress);
        }
        if g.is(GroupState::Stable) || g.is(GroupState::PreparingRebalance) {
            if let Some(m) = g.members.get_mut(&req.member_id) {
                m.heartbeat(now);
            }
        }
        None
    }

    /// OffsetFetch for one group. `partitions: None` asks for everything committed.
    /// No transactions exist, so no offset is ever pending and `require_stable` needs
    /// nothing more.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Vec<FetchedOffset> {
        let g = self
            .groups
            .get(group_id)
            .filter(|g| !g.is(GroupState::Dead));
        let fetched = |topic: String, partition: i32| {
            let c = g.and_then(|g| g.offsets.get(&(topic.clone(), partition)));
            FetchedOffset {
                offset: c.map_or(-1, |c| c.offset),
                leader_epoch: c.map_or(-1, |c| c.leader_epoch),
                metadata: c.map(|c| c.metadata.clone()).unwrap_or_default(),
                topic,
                partition,
            }
        };
        match partitions {
            Some(list) => list.into_iter().map(|(t, p)| fetched(t, p)).collect(),
            None => g
                .map(|g| g.offsets.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|(t, p)| fetched(t, p))
                .collect(),
        }
    }

    /// OffsetDelete: `Err` for the whole group, else each partition's error.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<(String, i32, Option<E>)>, E> {
        let Some(g) = self.groups.get_mut(group_id) else {
            return Err(E::GroupIdNotFound);
        };
        if g.is(GroupState::Dead) {
            return Err(E::GroupIdNotFound);
        }
        // An active consumer group keeps the offsets of topics it subscribes to.
        let subscribed = if let Some(c) = g.consumer.as_ref().filter(|c| !c.is_empty()) {
            let mut topics: std::collections::BTreeSet<String> =
                c.subscription_metadata.keys().cloned().collect();
            for m in c.members.values() {
                topics.extend(m.subscribed_topic_names.iter().cloned());
            }
            Some(topics)
        } else if g.is(GroupState::Empty) || g.protocol_type.is_none() {
            Some(Default::default())
        } else {
            g.subscribed_topics()
        };
        let mut out = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            let busy = subscribed.as_ref().is_none_or(|s| s.contains(&topic));
            if busy {
                out.push((topic, partition, Some(E::GroupSubscribedToTopic)));
                continue;
            }
            if g.offsets.remove(&(topic.clone(), partition)).is_some() {
                self.out.records.push(StoreRecord::Offset {
                    group: group_id.to_string(),
                    topic: topic.clone(),
                    partition,
                    value: None,
                });
            }
            out.push((topic, partition, None));
        }
        Ok(out)
    }

    /// Drops expired offsets (tombstoned) and then groups left Empty without offsets.
    /// An Empty consumer group's offsets expire `offsets.retention.minutes` after it
    /// became empty; a group that only stores offsets counts from each commit; a
    /// Stable consumer group expires offsets of topics it no longer subscribes to.
    /// Returns how many offsets expired.
    pub fn expire_offsets(&mut self, now: i64) -> usize {
        let retention = self.config.offsets_retention_ms;
        let mut expired = 0;
        let mut dead = Vec::new();
        for g in self.groups.values_mut() {
            if g.consumer.as_ref().is_some_and(|c| !c.is_empty()) {
                continue;
            }
            let base_is_empty_time = g.is(GroupState::Empty) && g.protocol_type.is_some();
            let unsubscribed_only =
                g.is(GroupState::Stable) && g.protocol_type.as_deref() == Some("consumer");
            let subscribed = if unsubscribed_only {
                g.subscribed_topics()
            } else {
                None
            };
            let eligible = g.is(GroupState::Empty) || (unsubscribed_only && subscribed.is_some());
            if !eligible {
                continue;
            }
            let gone: Vec<(String, i32)> = g
                .offsets
                .iter()
                .filter(|((topic, _), _)| subscribed.as_ref().is_none_or(|s| !s.contains(topic)))
                .filter(|(_, c)| match c.expire_timestamp_ms {
                    Some(at) => now >= at,
                    None => {
                        let base = if base_is_empty_time {
                            g.state_timestamp_ms
                        } else {
                            c.commit_timestamp_ms
                        };
                        base.saturating_add(retention) <= now
                    }
                })
                .map(|(k, _)| k.clone())
                .collect();
            for (topic, partition) in gone {
                g.offsets.remove(&(topic.clone(), partition));
                self.out.records.push(StoreRecord::Offset {
                    group: g.id.clone(),
                    topic,
                    partition,
                    value: None,
                });
                expired += 1;
            }
            if g.is(GroupState::Empty) && g.offsets.is_empty() {
                g.transition(GroupState::Dead, now);
                dead.push(g.id.clone());
            }
        }
        for id in dead {
            let was_consumer = self
                .groups
                .remove(&id)
                .is_some_and(|g| g.consumer.is_some());
            self.out.records.push(StoreRecord::Group {
                group: id.clone(),
                value: None,
            });
            if was_consumer {
                self.out.records.push(StoreRecord::Consumer {
                    group: id.clone(),
                    value: None,
                });
            }
            tracing::info!(group = %id, "group removed: empty and its offsets expired");
        }
        expired
    }
}
