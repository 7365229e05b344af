//! A consumer group (KIP-848): members, the group epoch, the target assignment and
//! its epoch, and who owns which partition right now.
//!
//! Epochs: the group epoch rises whenever membership or the subscribed metadata
//! changes; the target assignment is recomputed when the group epoch passes the
//! assignment epoch; each member's epoch rises to the assignment epoch once it holds
//! nothing it must revoke. A partition has at most one owner at any time: a member is
//! given a partition only once no other member owns it (assigned or pending revocation).

use crate::assignment::{self, Assignment, TopicId};
use crate::assignor::{AssignmentSpec, Assignor};
use crate::member::ConsumerMember;
use crate::subscription::{self, Topics};
use std::collections::{BTreeMap, BTreeSet};

/// The broker's `group.consumer.*` settings.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.consumer.session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub max_size: u32,
    /// `group.consumer.assignors`: the first is the default.
    pub assignors: Vec<Assignor>,
    /// `group.consumer.migration.policy`.
    pub migration_policy: crate::MigrationPolicy,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: i32::MAX as u32,
            assignors: vec![Assignor::Uniform, Assignor::Range],
            migration_policy: crate::MigrationPolicy::Bidirectional,
        }
    }
}

/// A consumer group's state, named as ListGroups and ConsumerGroupDescribe name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    /// The group epoch moved past the target assignment's.
    Assigning,
    /// Some member does not hold its target yet.
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// One consumer group. Single-threaded; the caller serialises access.
#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    pub id: String,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// `group.instance.id` -> member id.
    pub static_members: BTreeMap<String, String>,
    /// The target assignment (at `assignment_epoch`), by member id.
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics the target was computed from: name -> (id, partitions).
    pub subscription_metadata: BTreeMap<String, (TopicId, i32)>,
    /// Partition -> the member that owns it (assigned or pending revocation).
    pub(crate) owners: BTreeMap<(TopicId, i32), String>,
    /// Member id -> session deadline.
    pub(crate) sessions: BTreeMap<String, i64>,
    /// Member id -> (deadline, epoch) for revoking what it was asked to revoke.
    pub(crate) rebalance_deadlines: BTreeMap<String, (i64, i32)>,
    /// Compiled subscription regexes (runtime cache; `None`: did not compile).
    pub(crate) regexes: BTreeMap<String, Option<regex::Regex>>,
    pub(crate) dirty: bool,
}

impl ConsumerGroup {
    pub fn new(id: &str) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_string(),
            ..ConsumerGroup::default()
        }
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .all(|m| m.is_reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Stable
        } else {
            ConsumerGroupState::Reconciling
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether the group changed since the last call (the caller persists a snapshot).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The member that owns a partition now, if any.
    pub fn owner(&self, topic: TopicId, partition: i32) -> Option<&str> {
        self.owners.get(&(topic, partition)).map(String::as_str)
    }

    /// The assignor in use: the one most members ask for (ties by name), else the
    /// broker's default (Kafka's `preferredServerAssignor`).
    pub fn assignor(&self, config: &GroupConfig) -> Assignor {
        let mut votes: BTreeMap<Assignor, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.server_assignor.as_deref().and_then(Assignor::parse) {
                *votes.entry(a).or_default() += 1;
            }
        }
        let best = votes.values().copied().max();
        votes
            .into_iter()
            .find(|(_, v)| Some(*v) == best)
            .map(|(a, _)| a)
            .or_else(|| config.assignors.first().copied())
            .unwrap_or(Assignor::Uniform)
    }

    /// The earliest session or rebalance deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        let sessions = self.sessions.values().copied();
        let rebalances = self.rebalance_deadlines.values().map(|(d, _)| *d);
        sessions.chain(rebalances).min()
    }

    /// Fences members whose session lapsed or who did not revoke in time. Returns the
    /// ids removed.
    pub fn tick(&mut self, now: i64) -> Vec<String> {
        let expired: BTreeSet<String> = self
            .sessions
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(m, _)| m.clone())
            .collect();
        let slow: BTreeSet<String> = self
            .rebalance_deadlines
            .iter()
            .filter(|(_, (d, _))| *d <= now)
            .filter(|(m, (_, epoch))| {
                self.members.get(*m).is_some_and(|mm| {
                    mm.epoch == *epoch && mm.state == crate::MemberState::UnrevokedPartitions
                })
            })
            .map(|(m, _)| m.clone())
            .collect();
        self.rebalance_deadlines.retain(|_, (d, _)| *d > now);
        let gone: Vec<String> = expired.union(&slow).cloned().collect();
        for m in &gone {
            self.fence(m);
        }
        gone
    }

    /// Removes a member and bumps the group epoch (Kafka's `consumerGroupFenceMember`):
    /// its partitions become free and the next heartbeat recomputes the target.
    pub fn fence(&mut self, member_id: &str) {
        let Some(m) = self.members.remove(member_id) else {
            return;
        };
        if let Some(i) = &m.instance_id {
            if self.static_members.get(i).map(String::as_str) == Some(member_id) {
                self.static_members.remove(i);
            }
        }
        self.release(&m);
        self.target.remove(member_id);
        self.sessions.remove(member_id);
        self.rebalance_deadlines.remove(member_id);
        self.epoch += 1;
        self.dirty = true;
    }

    /// Stores a member's new state, keeping the ownership map in step.
    pub(crate) fn put_member(&mut self, m: ConsumerMember) {
        if let Some(old) = self.members.get(&m.id).cloned() {
            self.release(&old);
        }
        for tp in
            assignment::partitions(&m.assigned).chain(assignment::partitions(&m.pending_revocation))
        {
            self.owners.insert(tp, m.id.clone());
        }
        if let Some(i) = &m.instance_id {
            self.static_members.insert(i.clone(), m.id.clone());
        }
        if self.members.get(&m.id) != Some(&m) {
            self.dirty = true;
        }
        self.members.insert(m.id.clone(), m);
    }

    fn release(&mut self, m: &ConsumerMember) {
        for tp in
            assignment::partitions(&m.assigned).chain(assignment::partitions(&m.pending_revocation))
        {
            if self.owners.get(&tp) == Some(&m.id) {
                self.owners.remove(&tp);
            }
        }
    }

    /// Every topic a member subscribes to, by name or regex, that exists now.
    pub(crate) fn member_topics(
        &mut self,
        m: &ConsumerMember,
        topics: &Topics,
    ) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = m
            .subscribed_topic_names
            .iter()
            .filter(|n| topics.get(n).is_some())
            .cloned()
            .collect();
        if let Some(re) = m.regex() {
            let compiled = self
                .regexes
                .entry(re.to_string())
                .or_insert_with(|| subscription::compile(re).ok());
            if let Some(c) = compiled {
                out.extend(subscription::matching(c, topics).map(str::to_string));
            }
        }
        out
    }

    /// The group's subscribed topics with their ids and partition counts now. Runs on
    /// every heartbeat (that is how a new topic matching a regex is noticed), so it
    /// copies no member: names are looked up, each distinct regex is matched once.
    pub(crate) fn compute_subscription_metadata(
        &mut self,
        topics: &Topics,
    ) -> BTreeMap<String, (TopicId, i32)> {
        let regexes: BTreeSet<&str> = self.members.values().filter_map(|m| m.regex()).collect();
        self.regexes.retain(|re, _| regexes.contains(re.as_str()));
        for re in regexes {
            if !self.regexes.contains_key(re) {
                self.regexes
                    .insert(re.to_string(), subscription::compile(re).ok());
            }
        }
        let mut out = BTreeMap::new();
        for m in self.members.values() {
            for n in &m.subscribed_topic_names {
                if let Some(v) = topics.get(n) {
                    out.insert(n.clone(), v);
                }
            }
        }
        for re in self.regexes.values().flatten() {
            for n in subscription::matching(re, topics) {
                if let Some(v) = topics.get(n) {
                    out.insert(n.to_string(), v);
                }
            }
        }
        out
    }

    /// Recomputes the target at the group epoch (Kafka's `TargetAssignmentBuilder`).
    pub(crate) fn update_target(&mut self, topics: &Topics, config: &GroupConfig) {
        let assignor = self.assignor(config);
        let members: Vec<ConsumerMember> = self.members.values().cloned().collect();
        let mut subs: BTreeMap<String, BTreeSet<TopicId>> = BTreeMap::new();
        for m in &members {
            let ids = self
                .member_topics(m, topics)
                .iter()
                .filter_map(|n| topics.get(n).map(|(id, _)| id))
                .collect();
            subs.insert(m.id.clone(), ids);
        }
        let partitions: BTreeMap<TopicId, i32> = self
            .subscription_metadata
            .values()
            .map(|(id, n)| (*id, *n))
            .collect();
        self.target = assignor.assign(AssignmentSpec {
            members: &subs,
            topics: &partitions,
            current: &self.target,
        });
        self.assignment_epoch = self.epoch;
        self.dirty = true;
    }
}
