//! The coordinator state machine: the groups of one `__consumer_offsets` partition,
//! driven by requests and `tick(now)`, producing [`Effects`] (parked responses to
//! complete, records to persist) that the caller carries out. No I/O and no clock of
//! its own, so tests drive it with an injected `now`.
//!
//! Timers live in a min-heap of (deadline, group) entries rather than being found by
//! scanning every group: each input re-arms its group's earliest deadline
//! ([`Coordinator::reschedule`]), and [`Coordinator::tick`] pops only what is due. A
//! group keeps at most one live entry (`ClassicGroup::scheduled_ms`); entries left
//! behind when a deadline moved earlier are recognised as stale and dropped when they
//! surface. A deadline that moved later (a heartbeat) keeps its early entry, which
//! then fires, finds nothing due and re-arms at the new time.

use super::classic::ClassicGroup;
use super::member::{JoinReply, SyncReply};
use super::offsets::CommittedOffset;
use super::state::GroupState;
use super::store::GroupSnapshot;
use super::{JoinResponse, SyncResponse};
use crate::config::BrokerConfig;
use kafka_protocol::error::ResponseError;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// The coordinator's settings, from the broker's `group.*` and `offsets.*` keys.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `offsets.retention.minutes`, in milliseconds.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes` (Kafka's default; not configurable here).
    pub offset_metadata_max_bytes: usize,
    /// `group.max.size`: members of one classic group.
    pub max_size: usize,
    /// `group.consumer.*`: KIP-848 consumer groups.
    pub consumer: fjord_group::GroupConfig,
}

impl GroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: i64::try_from(c.group_initial_rebalance_delay_ms)
                .unwrap_or(i64::MAX),
            min_session_timeout_ms: c.group_min_session_timeout_ms,
            max_session_timeout_ms: c.group_max_session_timeout_ms,
            offsets_retention_ms: i64::try_from(c.offsets_retention_minutes)
                .unwrap_or(i64::MAX / 60_000)
                .saturating_mul(60_000),
            offset_metadata_max_bytes: 4096,
            max_size: usize::try_from(key_i64(c, "group.max.size", i64::from(i32::MAX)))
                .unwrap_or(usize::MAX),
            consumer: consumer_config(c),
        }
    }
}

/// An integer key's effective value (validated at start-up), or Kafka's default.
fn key_i64(c: &BrokerConfig, key: &str, default: i64) -> i64 {
    c.effective
        .get(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn consumer_config(c: &BrokerConfig) -> fjord_group::GroupConfig {
    let d = fjord_group::GroupConfig::default();
    let int = |key: &str, default: i32| {
        i32::try_from(key_i64(c, key, i64::from(default))).unwrap_or(default)
    };
    let assignors: Vec<fjord_group::Assignor> = c
        .effective
        .get("group.consumer.assignors")
        .map(|v| {
            v.split(',')
                .filter_map(fjord_group::Assignor::parse)
                .collect()
        })
        .unwrap_or_default();
    fjord_group::GroupConfig {
        session_timeout_ms: int("group.consumer.session.timeout.ms", d.session_timeout_ms),
        heartbeat_interval_ms: int(
            "group.consumer.heartbeat.interval.ms",
            d.heartbeat_interval_ms,
        ),
        max_size: u32::try_from(key_i64(c, "group.consumer.max.size", i64::from(d.max_size)))
            .unwrap_or(d.max_size),
        assignors: if assignors.is_empty() {
            d.assignors
        } else {
            assignors
        },
        migration_policy: c
            .effective
            .get("group.consumer.migration.policy")
            .and_then(|v| fjord_group::MigrationPolicy::parse(v))
            .unwrap_or(d.migration_policy),
    }
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig::from_broker(&BrokerConfig::default())
    }
}

/// A change to persist in `__consumer_offsets`; `None` values are tombstones.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        value: Option<GroupSnapshot>,
    },
    /// A KIP-848 consumer group's state (`fjord_group::ConsumerGroup::snapshot`).
    Consumer {
        group: String,
        value: Option<bytes::Bytes>,
    },
}

/// What the caller must do after an input: persist `records` (in order), then
/// complete the parked responses. If the records cannot be written, the caller hands
/// `undo` back to [`Coordinator::rollback`] so memory never holds a commit that
/// `__consumer_offsets` does not.
#[derive(Debug, Default)]
pub struct Effects {
    pub records: Vec<StoreRecord>,
    pub joins: Vec<(JoinReply, JoinResponse)>,
    pub syncs: Vec<(SyncReply, SyncResponse)>,
    pub undo: Vec<OffsetUndo>,
}

/// A committed offset as it was before an OffsetCommit replaced it (`None`: absent).
#[derive(Debug)]
pub struct OffsetUndo {
    pub group: String,
    pub key: (String, i32),
    pub previous: Option<CommittedOffset>,
    /// What the commit wrote: put back only while it is still there.
    pub written: CommittedOffset,
}

impl Effects {
    /// Completes the parked responses (a receiver that went away is ignored).
    pub fn deliver(self) {
        for (tx, resp) in self.joins {
            let _ = tx.send(resp);
        }
        for (tx, resp) in self.syncs {
            let _ = tx.send(resp);
        }
    }

    /// Answers the parked responses with `error` instead (their records were not written).
    pub fn fail(self, error: ResponseError) {
        for (tx, resp) in self.joins {
            let _ = tx.send(JoinResponse::error(error, &resp.member_id));
        }
        for (tx, _) in self.syncs {
            let _ = tx.send(SyncResponse::error(error));
        }
    }
}

/// One row of ListGroups.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
    /// `classic` or `consumer` (ListGroups v5's group type).
    pub group_type: &'static str,
    /// The state's name: a consumer group has its own (Assigning, Reconciling, ...).
    pub state_name: &'static str,
}

/// DescribeGroups' view of one member.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: bytes::Bytes,
    pub assignment: bytes::Bytes,
}

/// DescribeGroups' view of one group; `None` from [`Coordinator::describe`] if unknown.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol_data: String,
    pub members: Vec<MemberDescription>,
}

/// The groups of one shard (one `__consumer_offsets` partition). Single-threaded;
/// the caller serialises access.
#[derive(Debug)]
pub struct Coordinator {
    pub config: GroupConfig,
    pub(crate) groups: BTreeMap<String, ClassicGroup>,
    pub(crate) out: Effects,
    /// (deadline, group id), earliest first; see the module comment.
    timers: BinaryHeap<Reverse<(i64, String)>>,
    /// The cluster's topics, set by the edge before each input.
    pub topics: std::sync::Arc<fjord_group::Topics>,
}

impl Coordinator {
    pub fn new(config: GroupConfig) -> Coordinator {
        Coordinator {
            config,
            groups: BTreeMap::new(),
            out: Effects::default(),
            timers: BinaryHeap::new(),
            topics: Default::default(),
        }
    }

    /// The earliest timer of any group here; `None` when nothing is scheduled.
    pub fn next_deadline(&self) -> Option<i64> {
        self.timers.peek().map(|Reverse((d, _))| *d)
    }

    /// Re-arms `id`'s earliest deadline after an input changed the group. Costs one
    /// pass over the group's members, no more than the input itself.
    pub(crate) fn reschedule(&mut self, id: &str) {
        let Some(g) = self.groups.get_mut(id) else {
            return;
        };
        let Some(deadline) = g.next_deadline() else {
            return;
        };
        if g.scheduled_ms.is_none_or(|s| deadline < s) {
            g.scheduled_ms = Some(deadline);
            self.timers.push(Reverse((deadline, id.to_string())));
        }
    }

    /// Puts back the offsets an unwritten commit replaced (those a later commit has
    /// replaced again stay).
    pub fn rollback(&mut self, undo: Vec<OffsetUndo>) {
        for u in undo.into_iter().rev() {
            let Some(g) = self.groups.get_mut(&u.group) else {
                continue;
            };
            if g.offsets.get(&u.key) != Some(&u.written) {
                continue;
            }
            match u.previous {
                Some(v) => {
                    g.offsets.insert(u.key, v);
                }
                None => {
                    g.offsets.remove(&u.key);
                }
            }
        }
    }

    /// The effects accumulated since the last call.
    pub fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.out)
    }

    pub fn group(&self, id: &str) -> Option<&ClassicGroup> {
        self.groups.get(id)
    }

    /// Runs every timer due at `now`: initial delays, join and sync deadlines, member
    /// sessions and lapsed pending member ids. Touches only the groups whose timers
    /// are due.
    pub fn tick(&mut self, now: i64) {
        while let Some(Reverse((deadline, _))) = self.timers.peek() {
            if *deadline > now {
                break;
            }
            let Some(Reverse((deadline, id))) = self.timers.pop() else {
                break;
            };
            let live = self
                .groups
                .get_mut(&id)
                .filter(|g| g.scheduled_ms == Some(deadline));
            if let Some(g) = live {
                g.scheduled_ms = None;
                self.tick_group(&id, now);
                self.reschedule(&id);
            }
        }
    }

    fn tick_group(&mut self, id: &str, now: i64) {
        self.tick_consumer(id, now);
        let Some(g) = self.groups.get_mut(id) else {
            return;
        };
        let lapsed: Vec<String> = g
            .pending_members
            .iter()
            .filter(|(_, &deadline)| now >= deadline)
            .map(|(m, _)| m.clone())
            .collect();
        for m in &lapsed {
            g.pending_members.remove(m);
        }
        let expired: Vec<String> = g
            .members
            .values()
            .filter(|m| m.has_expired(now))
            .map(|m| m.id.clone())
            .collect();
        for m in expired {
            tracing::info!(group = id, member = %m, "member session expired");
            self.remove_member(id, &m, now);
        }
        if !lapsed.is_empty() {
            self.maybe_complete_join(id, now);
        }
        self.check_sync_deadline(id, now);
        self.check_join_timers(id, now);
    }

    pub fn list(&self, states: &[GroupState]) -> Vec<GroupListing> {
        self.groups
            .values()
            .filter(|g| !g.is(GroupState::Dead))
            .filter(|g| states.is_empty() || states.contains(&g.state))
            .map(|g| match &g.consumer {
                Some(c) => GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: "consumer".into(),
                    state: g.state,
                    group_type: "consumer",
                    state_name: c.state().name(),
                },
                None => GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    state: g.state,
                    group_type: "classic",
                    state_name: g.state.name(),
                },
            })
            .collect()
    }

    pub fn describe(&self, id: &str) -> Option<GroupDescription> {
        let g = self.groups.get(id).filter(|g| g.consumer.is_none())?;
        let stable = g.is(GroupState::Stable);
        let protocol = g.protocol_name.clone().unwrap_or_default();
        Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_data: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol)
                    } else {
                        Default::default()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Default::default()
                    },
                })
                .collect(),
        })
    }

    /// DeleteGroups for one group: only an Empty group (members gone) can be deleted;
    /// its offsets and metadata are tombstoned.
    pub fn delete_group(&mut self, id: &str) -> Result<(), ResponseError> {
        let Some(g) = self.groups.get(id) else {
            return Err(ResponseError::GroupIdNotFound);
        };
        if g.consumer.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(ResponseError::NonEmptyGroup);
        }
        let was_consumer = g.consumer.is_some();
        match g.state {
            GroupState::Dead => return Err(ResponseError::GroupIdNotFound),
            GroupState::Empty => {}
            _ => return Err(ResponseError::NonEmptyGroup),
        }
        let Some(g) = self.groups.remove(id) else {
            return Err(ResponseError::GroupIdNotFound);
        };
        for (topic, partition) in g.offsets.into_keys() {
            self.out.records.push(StoreRecord::Offset {
                group: id.to_string(),
                topic,
                partition,
                value: None,
            });
        }
        self.out.records.push(StoreRecord::Group {
            group: id.to_string(),
            value: None,
        });
        if was_consumer {
            self.out.records.push(StoreRecord::Consumer {
                group: id.to_string(),
                value: None,
            });
        }
        tracing::info!(group = id, "group deleted");
        Ok(())
    }

    /// Persists the group's metadata (after a generation completes or a static
    /// member is replaced), as Kafka's `storeGroup` does.
    pub(crate) fn store_group(&mut self, id: &str) {
        if let Some(g) = self.groups.get(id) {
            let snapshot = GroupSnapshot::of(g);
            self.out.records.push(StoreRecord::Group {
                group: id.to_string(),
                value: Some(snapshot),
            });
        }
    }

    /// Replays one record read back from `__consumer_offsets` at start-up.
    pub fn replay(&mut self, record: StoreRecord, now: i64) {
        match record {
            StoreRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => match value {
                Some(v) => {
                    self.groups
                        .entry(group.clone())
                        .or_insert_with(|| ClassicGroup::new(&group, now))
                        .offsets
                        .insert((topic, partition), v);
                }
                None => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.offsets.remove(&(topic, partition));
                    }
                }
            },
            StoreRecord::Group { group, value } => match value {
                Some(snapshot) => {
                    let g = self
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| ClassicGroup::new(&group, now));
                    snapshot.restore_into(g, now);
                }
                None => {
                    // The classic metadata is gone; offsets have their own records
                    // (tombstoned first when the group was deleted or expired), and a
                    // consumer group converted from it keeps its own record.
                    if let Some(g) = self.groups.get_mut(&group) {
                        let mut fresh = ClassicGroup::new(&group, now);
                        fresh.offsets = std::mem::take(&mut g.offsets);
                        fresh.consumer = g.consumer.take();
                        *g = fresh;
                    }
                }
            },
            StoreRecord::Consumer { group, value } => self.replay_consumer(group, value, now),
        }
    }

    /// After replay: groups with neither members nor offsets are gone; restored
    /// members' sessions are put on the timer heap.
    pub fn finish_load(&mut self) {
        self.groups.retain(|_, g| {
            !g.members.is_empty()
                || !g.offsets.is_empty()
                || g.protocol_type.is_some()
                || g.consumer.is_some()
        });
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            self.reschedule(&id);
        }
    }

    /// Every group's state name, for the metrics endpoint (no copies).
    pub fn states(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.groups.values().map(|g| match &g.consumer {
            Some(c) => c.state().name(),
            None => g.state.name(),
        })
    }

    /// Every committed offset as (group, topic, partition, offset), for the metrics
    /// endpoint: borrowed, so a scrape copies nothing while it holds the shard.
    pub fn committed(&self) -> impl Iterator<Item = (&str, &str, i32, i64)> + '_ {
        self.groups.values().flat_map(|g| {
            g.offsets
                .iter()
                .map(|((t, p), o)| (g.id.as_str(), t.as_str(), *p, o.offset))
        })
    }
}
