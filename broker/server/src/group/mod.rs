//! The group coordinator: Kafka's classic consumer group protocol and committed offsets.
//!
//! [`Coordinator`] is the deterministic state machine (no I/O, no clock); this module's
//! [`GroupCoordinator`] is its edge. Groups are sharded by their `__consumer_offsets`
//! partition (Kafka's `abs(hashCode) % partitions`, as FindCoordinator uses), the unit
//! that will fail over between brokers once replication lands: each shard is one
//! [`Coordinator`] under its own lock, so groups on different partitions never wait for
//! each other. Per input the edge locks the group's shard, runs the machine, writes the
//! records it asks for to `__consumer_offsets` before any response leaves (rolling back
//! a commit that could not be written), then completes parked JoinGroup/SyncGroup
//! responses through oneshot channels. A background thread loads `__consumer_offsets`
//! at start-up (until then requests get COORDINATOR_LOAD_IN_PROGRESS) and then runs the
//! timers, sleeping until the earliest one (`timer.rs`).
//!
//! KIP-848 consumer groups (`group.protocol=consumer`) are the sans-IO
//! `fjord_group::ConsumerGroup` (crate `broker/group`: epochs, server-side assignors,
//! reconciliation); `consumer.rs` keeps them in the same shards, timers and
//! `__consumer_offsets` records as classic groups and converts empty groups between the
//! two. The classic machine is still in this crate: it depends on the broker's config
//! type and `kafka-protocol` error codes only, but its persistence (`store.rs`) and
//! loader are being changed by other work at the same time; moving the files now would
//! turn those changes into conflicts. It has no I/O, so the move stays mechanical.

#[cfg(test)]
mod check_order_tests;
mod classic;
pub mod consumer;
#[cfg(test)]
mod consumer_tests;
pub mod coordinator;
mod heartbeat;
mod join;
mod leave;
pub mod member;
pub mod metrics;
mod mixed;
pub mod offsets;
pub mod rebalance;
pub mod state;
pub mod store;
mod sync;
#[cfg(test)]
mod tests;
mod timer;

pub use classic::ClassicGroup;
pub use coordinator::{Coordinator, Effects, GroupConfig, GroupListing, StoreRecord};
pub use offsets::{CommitRequest, FetchedOffset};
pub use rebalance::{JoinMember, JoinRequest, JoinResponse, Leaving, SyncRequest, SyncResponse};
pub use state::GroupState;

use crate::api::now_ms;
use crate::broker::Broker;
use crate::partition::Partition;
use kafka_protocol::error::ResponseError;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::oneshot;

/// The internal topic holding offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's `offsets.retention.check.interval.ms` default.
const EXPIRY_CHECK_MS: i64 = 600_000;

/// The groups of one `__consumer_offsets` partition.
struct Shard {
    machine: Mutex<Coordinator>,
    /// The machine's earliest timer ([`timer::NONE`]: none), published so the driver
    /// finds due shards without taking every lock.
    next_deadline: AtomicI64,
}

/// The coordinator of every group on this broker. Safe to share between threads.
pub struct GroupCoordinator {
    /// One per `__consumer_offsets` partition, by partition index.
    shards: Box<[Shard]>,
    /// `__consumer_offsets` partitions by index, once the topic exists.
    partitions: RwLock<BTreeMap<i32, Arc<Partition>>>,
    num_partitions: i32,
    loaded: AtomicBool,
    stopped: AtomicBool,
    wakeup: Arc<timer::Wakeup>,
    /// The cluster's topics as last handed in by a group request (classic members of
    /// consumer groups need them to resolve subscriptions).
    topics: RwLock<Arc<fjord_group::Topics>>,
}

impl GroupCoordinator {
    pub fn new(config: &crate::config::BrokerConfig) -> Arc<GroupCoordinator> {
        let num_partitions = config.offsets_topic_num_partitions.max(1);
        let group_config = GroupConfig::from_broker(config);
        let shards = (0..num_partitions)
            .map(|_| Shard {
                machine: Mutex::new(Coordinator::new(group_config.clone())),
                next_deadline: AtomicI64::new(timer::NONE),
            })
            .collect();
        Arc::new(GroupCoordinator {
            shards,
            partitions: RwLock::new(BTreeMap::new()),
            num_partitions,
            loaded: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            wakeup: Arc::new(timer::Wakeup::default()),
            topics: RwLock::new(Arc::default()),
        })
    }

    /// Loads the existing `__consumer_offsets` partitions on a background thread, which
    /// then keeps running the coordinator's timers until [`GroupCoordinator::shutdown`].
    pub fn start(self: &Arc<Self>, broker: &Broker) {
        let parts: Vec<Arc<Partition>> = broker
            .all_partitions()
            .into_iter()
            .filter(|p| &*p.topic == OFFSETS_TOPIC)
            .collect();
        self.partitions
            .write()
            .extend(parts.iter().map(|p| (p.index, p.clone())));
        let weak = Arc::downgrade(self);
        let wakeup = self.wakeup.clone();
        let spawned = std::thread::Builder::new()
            .name("group-coordinator".into())
            .spawn(move || run(weak, wakeup, parts));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the group coordinator thread");
        }
    }

    /// Stops the timer thread and releases the `__consumer_offsets` partitions, so the
    /// broker can close their logs cleanly. Takes every shard's lock so no input is
    /// still writing.
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wakeup.stop();
        let _guards: Vec<_> = self.shards.iter().map(|s| s.machine.lock()).collect();
        self.partitions.write().clear();
    }

    /// Hands in the cluster's current topics (cheap: the view is cached per image).
    pub fn set_topics(&self, topics: Arc<fjord_group::Topics>) {
        *self.topics.write() = topics;
    }

    /// The `group.consumer.*` settings (the same in every shard).
    pub fn consumer_config(&self) -> fjord_group::GroupConfig {
        self.shards
            .first()
            .map(|s| s.machine.lock().config.consumer.clone())
            .unwrap_or_default()
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The `__consumer_offsets` partition that stores `group`.
    pub fn partition_for(&self, group: &str) -> i32 {
        store::partition_for(group, self.num_partitions)
    }

    /// The shard of a `__consumer_offsets` partition index (an existing topic with
    /// more partitions than configured folds onto the configured shards).
    fn shard(&self, index: i32) -> &Shard {
        let i = usize::try_from(index).unwrap_or(0) % self.shards.len().max(1);
        &self.shards[i]
    }

    /// Checks a request may be served: loaded, not shutting down, and the offsets
    /// topic exists (created with `cleanup.policy=compact` on first use).
    pub fn ready(&self, broker: &Broker) -> Result<(), ResponseError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if !self.is_loaded() {
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        if self.partitions.read().len() as i32 >= self.num_partitions {
            return Ok(());
        }
        self.create_topic(broker)
    }

    fn create_topic(&self, broker: &Broker) -> Result<(), ResponseError> {
        if broker.image().topic(OFFSETS_TOPIC).is_none() {
            let topic = crate::topics::NewTopic {
                name: OFFSETS_TOPIC.to_string(),
                partitions: self.num_partitions,
                replication_factor: -1,
                assignment: None,
                configs: [
                    ("cleanup.policy".to_string(), "compact".to_string()),
                    ("segment.bytes".to_string(), "104857600".to_string()),
                ]
                .into_iter()
                .collect(),
            };
            match broker.create_topic(topic, false) {
                Ok(_) => {
                    tracing::info!(partitions = self.num_partitions, "created {OFFSETS_TOPIC}")
                }
                Err(e) if e.code == ResponseError::TopicAlreadyExists => {}
                Err(e) => {
                    tracing::error!(error = %e.message, "cannot create {OFFSETS_TOPIC}");
                    return Err(ResponseError::CoordinatorNotAvailable);
                }
            }
        }
        for i in 0..self.num_partitions {
            if let Some(p) = broker.partition(OFFSETS_TOPIC, i) {
                self.partition_online(p);
            }
        }
        Ok(())
    }

    /// Takes over a `__consumer_offsets` partition that came online after start-up (its
    /// log could not be opened then): replays it into its shard, then writes to it.
    /// Idempotent.
    pub fn partition_online(&self, p: Arc<Partition>) {
        let shard = self.shard(p.index);
        let mut machine = shard.machine.lock();
        if self.stopped.load(Ordering::Acquire) || self.partitions.read().contains_key(&p.index) {
            return;
        }
        let records = load_partition(&mut machine, &p, now_ms());
        machine.finish_load();
        let next = machine.next_deadline().unwrap_or(timer::NONE);
        shard.next_deadline.store(next, Ordering::SeqCst);
        self.wakeup.arm(next);
        if records > 0 {
            tracing::info!(
                partition = p.index,
                records,
                "{OFFSETS_TOPIC} partition loaded"
            );
        }
        self.partitions.write().insert(p.index, p);
    }

    /// Runs one input about `group` through its shard's state machine, persists what
    /// it asks for (putting back committed offsets that could not be written), then
    /// completes the responses. Returns the input's direct result, or the storage
    /// error that kept its records from being written.
    pub fn run<R>(
        &self,
        group: &str,
        input: impl FnOnce(&mut Coordinator, i64) -> R,
    ) -> Result<R, ResponseError> {
        self.run_shard(self.partition_for(group), input)
    }

    fn run_shard<R>(
        &self,
        index: i32,
        input: impl FnOnce(&mut Coordinator, i64) -> R,
    ) -> Result<R, ResponseError> {
        let shard = self.shard(index);
        let mut machine = shard.machine.lock();
        machine.topics = self.topics.read().clone();
        let now = now_ms();
        let result = input(&mut machine, now);
        let mut effects = machine.take_effects();
        let written = self.persist(&effects.records, now);
        let undo = std::mem::take(&mut effects.undo);
        if written.is_err() {
            machine.rollback(undo);
        }
        let next = machine.next_deadline().unwrap_or(timer::NONE);
        drop(machine);
        shard.next_deadline.store(next, Ordering::SeqCst);
        self.wakeup.arm(next);
        // Parked responses go out even if persisting failed: members must not hang.
        effects.deliver();
        written.map(|()| result)
    }

    /// Reads every shard in turn (each under its own lock, briefly), for requests and
    /// scrapes that span all groups.
    pub fn visit(&self, mut f: impl FnMut(&Coordinator)) {
        for shard in self.shards.iter() {
            f(&shard.machine.lock());
        }
    }

    /// ListGroups: every group (not Dead) in the given states (all when empty).
    pub fn list(&self, states: &[GroupState]) -> Vec<GroupListing> {
        let mut out = Vec::new();
        self.visit(|c| out.extend(c.list(states)));
        out
    }

    fn persist(&self, records: &[StoreRecord], now: i64) -> Result<(), ResponseError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut by_partition: BTreeMap<i32, Vec<&StoreRecord>> = BTreeMap::new();
        for r in records {
            let group = match r {
                StoreRecord::Offset { group, .. }
                | StoreRecord::Group { group, .. }
                | StoreRecord::Consumer { group, .. } => group,
            };
            by_partition
                .entry(self.partition_for(group))
                .or_default()
                .push(r);
        }
        let parts = self.partitions.read();
        for (index, recs) in by_partition {
            let Some(p) = parts.get(&index) else {
                tracing::error!(partition = index, "{OFFSETS_TOPIC} partition is missing");
                return Err(ResponseError::CoordinatorNotAvailable);
            };
            let batch = store::batch(&recs, now).map_err(|e| {
                tracing::error!(error = %e, "cannot encode a {OFFSETS_TOPIC} batch");
                ResponseError::UnknownServerError
            })?;
            if let Err(e) = crate::blocking::block_in_place(|| p.log.append(&batch, 0, now)) {
                tracing::error!(partition = index, error = %e, "cannot write to {OFFSETS_TOPIC}");
                return Err(ResponseError::CoordinatorNotAvailable);
            }
            p.wake_waiters();
        }
        Ok(())
    }

    /// JoinGroup: waits (without holding any lock) until the rebalance answers.
    pub async fn join(&self, req: JoinRequest) -> JoinResponse {
        let member_id = req.member_id.clone();
        let group = req.group_id.clone();
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.run(&group, |c, now| c.join(now, req, tx)) {
            return JoinResponse::error(e, &member_id);
        }
        rx.await.unwrap_or_else(|_| {
            JoinResponse::error(ResponseError::CoordinatorNotAvailable, &member_id)
        })
    }

    /// SyncGroup: waits until the leader's assignment arrives.
    pub async fn sync(&self, req: SyncRequest) -> SyncResponse {
        let group = req.group_id.clone();
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.run(&group, |c, now| c.sync(now, req, tx)) {
            return SyncResponse::error(e);
        }
        rx.await
            .unwrap_or_else(|_| SyncResponse::error(ResponseError::CoordinatorNotAvailable))
    }

    /// The earliest published timer of any shard.
    fn next_deadline(&self) -> i64 {
        self.shards
            .iter()
            .map(|s| s.next_deadline.load(Ordering::SeqCst))
            .min()
            .unwrap_or(timer::NONE)
    }
}

impl Drop for GroupCoordinator {
    fn drop(&mut self) {
        // A coordinator dropped without `shutdown` must not leave its driver asleep.
        self.wakeup.stop();
    }
}

/// The coordinator thread: load, then run due timers until the broker stops.
fn run(
    coordinator: Weak<GroupCoordinator>,
    wakeup: Arc<timer::Wakeup>,
    parts: Vec<Arc<Partition>>,
) {
    let started = std::time::Instant::now();
    if let Some(c) = coordinator.upgrade() {
        let now = now_ms();
        let mut records = 0usize;
        for p in &parts {
            let mut machine = c.shard(p.index).machine.lock();
            records += load_partition(&mut machine, p, now);
        }
        let mut groups = 0usize;
        for shard in c.shards.iter() {
            let mut machine = shard.machine.lock();
            machine.finish_load();
            groups += machine.groups.len();
            let next = machine.next_deadline().unwrap_or(timer::NONE);
            shard.next_deadline.store(next, Ordering::SeqCst);
        }
        c.loaded.store(true, Ordering::Release);
        tracing::info!(
            groups,
            records,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "{OFFSETS_TOPIC} loaded"
        );
    }
    drop(parts);
    let mut next_expiry = now_ms().saturating_add(EXPIRY_CHECK_MS);
    loop {
        let Some(c) = coordinator.upgrade() else {
            return;
        };
        if c.stopped.load(Ordering::Acquire) {
            return;
        }
        let now = now_ms();
        for (index, shard) in c.shards.iter().enumerate() {
            if shard.next_deadline.load(Ordering::SeqCst) <= now {
                let _ = c.run_shard(index as i32, |m, now| m.tick(now));
            }
        }
        if now >= next_expiry {
            next_expiry = now.saturating_add(EXPIRY_CHECK_MS);
            expire_and_compact(&c);
        }
        let next = move || c.next_deadline().min(next_expiry);
        if !wakeup.sleep(now_ms, next) {
            return;
        }
    }
}

/// Offset expiry in every shard, then compaction of `__consumer_offsets`.
fn expire_and_compact(c: &GroupCoordinator) {
    for index in 0..c.shards.len() {
        let _ = c.run_shard(index as i32, |m, now| m.expire_offsets(now));
    }
    let parts: Vec<_> = c.partitions.read().values().cloned().collect();
    for p in parts {
        if let Err(e) = p.log.compact() {
            tracing::warn!(partition = p.index, error = %e, "{OFFSETS_TOPIC} compaction failed");
        }
    }
}

/// Replays one `__consumer_offsets` partition into the machine. Returns records read.
fn load_partition(machine: &mut Coordinator, p: &Partition, now: i64) -> usize {
    const CHUNK: usize = 1 << 20;
    let end = p.log.log_end_offset();
    let mut next = p.log.log_start_offset();
    let limit = fjord_storage::decompressed_limit(p.log.config().max_message_bytes);
    let mut count = 0;
    while next < end {
        let chunk = match p.log.read(next, CHUNK, end, true) {
            Ok(r) if !r.records.is_empty() => r.records,
            Ok(_) => break,
            Err(e) => {
                tracing::error!(partition = p.index, offset = next, error = %e, "cannot read {OFFSETS_TOPIC}");
                break;
            }
        };
        let mut buf = chunk;
        while buf.len() >= fjord_storage::HEADER_LEN {
            let Ok(header) = fjord_storage::BatchHeader::parse(&buf) else {
                break;
            };
            if header.size() > buf.len() {
                break;
            }
            let batch = buf.split_to(header.size());
            // Bounded, streaming decode (fjord_storage::RecordReader); a batch that does not
            // decode is skipped whole, with a log line, so one bad batch cannot stop a start.
            match decode_batch(&header, &batch, limit, next) {
                Ok(records) => {
                    for (offset, r) in records {
                        match r {
                            Ok(Some(rec)) => {
                                machine.replay(rec, now);
                                count += 1;
                            }
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!(partition = p.index, offset, error = %e, "skipping a record")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(topic = OFFSETS_TOPIC, partition = p.index, offset = header.base_offset, error = %e, "skipping a batch")
                }
            }
            next = next.max(header.last_offset() + 1);
        }
    }
    count
}

type Decoded = Vec<(
    i64,
    Result<Option<coordinator::StoreRecord>, store::DecodeError>,
)>;

/// The keyed records of a data batch at offsets from `from`, decoded into store records.
fn decode_batch(
    header: &fjord_storage::BatchHeader,
    batch: &[u8],
    limit: u64,
    from: i64,
) -> Result<Decoded, fjord_storage::BatchError> {
    let mut out = Vec::new();
    if header.is_control() {
        return Ok(out);
    }
    let mut reader = fjord_storage::RecordReader::new(header, batch, limit)?;
    while let Some(r) = reader.next_record()? {
        let offset = header.base_offset + i64::from(r.offset_delta);
        let Some(key) = r.key.filter(|_| offset >= from) else {
            continue;
        };
        let value = r.value.map(bytes::Bytes::copy_from_slice);
        out.push((
            offset,
            store::decode(bytes::Bytes::copy_from_slice(key), value),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod persistence_tests {
    use super::*;
    use crate::group::offsets::CommitRequest;

    #[test]
    fn a_commit_that_cannot_be_written_leaves_no_offset_behind() {
        // Never started: `__consumer_offsets` has no partitions, so every write fails.
        let coordinator = GroupCoordinator::new(&crate::config::BrokerConfig::default());
        let commit = CommitRequest {
            group_id: "g".into(),
            generation: -1,
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 42, -1, None)],
            ..CommitRequest::default()
        };
        let result = coordinator.run("g", |c, now| c.commit(now, commit));
        assert_eq!(result.err(), Some(ResponseError::CoordinatorNotAvailable));
        let fetched = coordinator
            .run("g", |c, _| c.fetch_offsets("g", None))
            .unwrap_or_default();
        assert!(fetched.iter().all(|f| f.offset == -1), "{fetched:?}");
    }

    #[test]
    fn groups_live_in_the_shard_of_their_offsets_partition() {
        let coordinator = GroupCoordinator::new(&crate::config::BrokerConfig::default());
        let (a, b) = ("alpha", "beta");
        assert_ne!(coordinator.partition_for(a), coordinator.partition_for(b));
        for g in [a, b] {
            let commit = CommitRequest {
                group_id: g.into(),
                generation: -1,
                offsets: vec![("t".into(), 0, 1, -1, None)],
                ..CommitRequest::default()
            };
            // Not written (no partitions), but the offsets-only group now exists.
            let _ = coordinator.run(g, |c, now| c.commit(now, commit));
        }
        for g in [a, b] {
            let shard = coordinator
                .shard(coordinator.partition_for(g))
                .machine
                .lock();
            assert!(shard.group(g).is_some(), "{g} in its own shard");
        }
        let other = coordinator
            .shard(coordinator.partition_for(a))
            .machine
            .lock();
        assert!(other.group(b).is_none(), "beta is not in alpha's shard");
        drop(other);
        let mut listed: Vec<String> = coordinator
            .list(&[])
            .into_iter()
            .map(|l| l.group_id)
            .collect();
        listed.sort();
        assert_eq!(listed, vec![a.to_string(), b.to_string()]);
    }
}
