//! The group coordinator: Kafka's classic consumer group protocol and committed offsets.
//!
//! [`Coordinator`] is the deterministic state machine (no I/O, no clock); this module's
//! [`GroupCoordinator`] is its edge. Groups are sharded by their `__consumer_offsets`
//! partition (Kafka's `abs(hashCode) % partitions`, as FindCoordinator uses), the unit
//! that fails over between brokers: each shard is one [`Coordinator`] under its own lock,
//! served only while this broker leads the partition ([`ownership`]: loaded from the log
//! when leadership arrives, COORDINATOR_LOAD_IN_PROGRESS meanwhile, dropped when it
//! leaves, NOT_COORDINATOR then). Per input the edge locks the group's shard, runs the
//! machine and appends the records it asks for as the partition's leader, then, without
//! the lock, waits until the in-sync replicas have them ([`write`]: `acks=all`,
//! `offsets.commit.timeout.ms`) before any response leaves, rolling back a commit that
//! could not be written, and completes parked JoinGroup/SyncGroup responses through
//! oneshot channels. A background thread runs the timers of the shards served here,
//! sleeping until the earliest one (`timer.rs`).
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
pub mod ownership;
pub mod rebalance;
pub mod state;
pub mod store;
mod sync;
#[cfg(test)]
mod tests;
mod timer;
mod write;

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
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;
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
    /// Whether this broker leads the partition, and the partition to write to.
    owner: Mutex<ownership::Owner>,
}

/// The coordinator of every group on this broker. Safe to share between threads.
pub struct GroupCoordinator {
    /// One per `__consumer_offsets` partition, by partition index.
    shards: Box<[Shard]>,
    num_partitions: i32,
    /// `offsets.topic.replication.factor`.
    replication_factor: i16,
    /// `offsets.commit.timeout.ms`.
    commit_timeout: Duration,
    group_config: GroupConfig,
    stopped: AtomicBool,
    wakeup: Arc<timer::Wakeup>,
    /// Load and unload jobs for the loader thread ([`ownership`]).
    jobs: Mutex<mpsc::Sender<ownership::Job>>,
    /// The loader's end of `jobs`, until [`GroupCoordinator::start`] takes it.
    job_queue: Mutex<Option<mpsc::Receiver<ownership::Job>>>,
    /// Where replication waits of the timer thread's writes run.
    runtime: Mutex<Option<tokio::runtime::Handle>>,
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
                owner: Mutex::new(ownership::Owner::default()),
            })
            .collect();
        let (tx, rx) = mpsc::channel();
        Arc::new(GroupCoordinator {
            shards,
            num_partitions,
            replication_factor: config.offsets_topic_replication_factor.max(1),
            commit_timeout: Duration::from_millis(config.offsets_commit_timeout_ms),
            group_config,
            stopped: AtomicBool::new(false),
            wakeup: Arc::new(timer::Wakeup::default()),
            jobs: Mutex::new(tx),
            job_queue: Mutex::new(Some(rx)),
            runtime: Mutex::new(tokio::runtime::Handle::try_current().ok()),
            topics: RwLock::new(Arc::default()),
        })
    }

    /// Starts the loader thread (which loads the `__consumer_offsets` partitions this
    /// broker leads, now and whenever leadership moves) and the timer thread, both running
    /// until [`GroupCoordinator::shutdown`].
    pub fn start(self: &Arc<Self>, broker: &Broker) {
        if let Some(rx) = self.job_queue.lock().take() {
            let weak = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("group-loader".into())
                .spawn(move || ownership::run_loader(weak, rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the group loader thread");
            }
        }
        self.leadership_changed(broker, &broker.image());
        let weak = Arc::downgrade(self);
        let wakeup = self.wakeup.clone();
        let spawned = std::thread::Builder::new()
            .name("group-coordinator".into())
            .spawn(move || run(weak, wakeup));
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
        self.release_all();
    }

    /// Hands in the cluster's current topics (cheap: the view is cached per image).
    pub fn set_topics(&self, topics: Arc<fjord_group::Topics>) {
        *self.topics.write() = topics;
    }

    /// The `group.consumer.*` settings (the same in every shard).
    pub fn consumer_config(&self) -> fjord_group::GroupConfig {
        self.group_config.consumer.clone()
    }

    /// The `__consumer_offsets` partition that stores `group`.
    pub fn partition_for(&self, group: &str) -> i32 {
        store::partition_for(group, self.num_partitions)
    }

    /// The shard of a `__consumer_offsets` partition index (one per configured
    /// partition; groups never hash beyond them).
    fn shard(&self, index: i32) -> &Shard {
        let i = usize::try_from(index).unwrap_or(0) % self.shards.len().max(1);
        &self.shards[i]
    }

    /// Checks group requests may be served at all: not shutting down, and the offsets
    /// topic exists (created with `cleanup.policy=compact` on first use). Whether this
    /// broker coordinates a given group is answered per group by [`GroupCoordinator::run`].
    pub fn ready(&self, broker: &Broker) -> Result<(), ResponseError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if broker.image().topic(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        self.create_topic(broker)
    }

    /// Creates `__consumer_offsets` with `offsets.topic.replication.factor` replicas,
    /// capped at the live brokers (Kafka instead refuses until enough brokers are up).
    fn create_topic(&self, broker: &Broker) -> Result<(), ResponseError> {
        let live = broker
            .image()
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .count()
            .max(1);
        let replication_factor = self
            .replication_factor
            .min(i16::try_from(live).unwrap_or(i16::MAX));
        let topic = crate::topics::NewTopic {
            name: OFFSETS_TOPIC.to_string(),
            partitions: self.num_partitions,
            replication_factor,
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
                tracing::info!(
                    partitions = self.num_partitions,
                    replication_factor,
                    "created {OFFSETS_TOPIC}"
                );
                Ok(())
            }
            Err(e) if e.code == ResponseError::TopicAlreadyExists => Ok(()),
            Err(e) => {
                tracing::error!(error = %e.message, "cannot create {OFFSETS_TOPIC}");
                Err(ResponseError::CoordinatorNotAvailable)
            }
        }
    }

    /// Runs one input about `group` through its shard's state machine, writes what it
    /// asks for to `__consumer_offsets`, waits until the in-sync replicas have it, then
    /// completes the responses. Returns the input's direct result, or NOT_COORDINATOR /
    /// COORDINATOR_LOAD_IN_PROGRESS when this broker does not serve the group now, or the
    /// error that kept its records from being written (see [`write`]).
    pub async fn run<R>(
        &self,
        group: &str,
        input: impl FnOnce(&mut Coordinator, i64) -> R,
    ) -> Result<R, ResponseError> {
        let (result, pending) = self.apply(self.partition_for(group), input)?;
        pending.finish(self).await?;
        Ok(result)
    }

    /// Reads `group`'s shard without changing it (DescribeGroups, OffsetFetch):
    /// NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS when it is not served here.
    pub fn read<R>(
        &self,
        group: &str,
        f: impl FnOnce(&Coordinator) -> R,
    ) -> Result<R, ResponseError> {
        let shard = self.shard(self.partition_for(group));
        let machine = shard.machine.lock();
        shard.owner.lock().serving()?;
        Ok(f(&machine))
    }

    /// The synchronous half of [`GroupCoordinator::run`]: the input and the append, under
    /// the shard's lock.
    fn apply<R>(
        &self,
        index: i32,
        input: impl FnOnce(&mut Coordinator, i64) -> R,
    ) -> Result<(R, write::Pending), ResponseError> {
        let shard = self.shard(index);
        let mut machine = shard.machine.lock();
        let (partition, leader_epoch) = shard.owner.lock().serving()?;
        machine.topics = self.topics.read().clone();
        let now = now_ms();
        let result = input(&mut machine, now);
        let mut effects = machine.take_effects();
        let records = std::mem::take(&mut effects.records);
        let undo = std::mem::take(&mut effects.undo);
        let written = if records.is_empty() {
            Ok(None)
        } else {
            write::append(&partition, leader_epoch, &records, now).map(|w| Some((partition, w)))
        };
        if let Err(e) = written {
            machine.rollback(undo);
            drop(machine);
            self.publish_deadline(shard);
            // Parked responses go out even if persisting failed: members must not hang.
            effects.fail(e);
            return Err(e);
        }
        drop(machine);
        self.publish_deadline(shard);
        let pending = write::Pending {
            index,
            wait: written.unwrap_or(None),
            effects,
            undo,
            timeout: self.commit_timeout,
        };
        Ok((result, pending))
    }

    fn publish_deadline(&self, shard: &Shard) {
        let next = shard.machine.lock().next_deadline().unwrap_or(timer::NONE);
        shard.next_deadline.store(next, Ordering::SeqCst);
        self.wakeup.arm(next);
    }

    /// Runs an input of the timer thread: its replication wait (if it wrote anything)
    /// continues on the runtime.
    fn run_in_background(self: &Arc<Self>, index: i32, input: impl FnOnce(&mut Coordinator, i64)) {
        let Ok(((), pending)) = self.apply(index, input) else {
            return;
        };
        if pending.wait.is_none() {
            let _ = write::finish_with(self, index, pending.effects, pending.undo, Ok(()));
            return;
        }
        let runtime = self.runtime.lock().clone();
        match runtime {
            Some(rt) => {
                let c = self.clone();
                rt.spawn(async move {
                    let _ = pending.finish(&c).await;
                });
            }
            None => {
                // No runtime (unit tests): nothing waits for replication there.
                let _ = write::finish_with(self, index, pending.effects, pending.undo, Ok(()));
            }
        }
    }

    /// Reads every shard served here in turn (each under its own lock, briefly), for
    /// requests and scrapes that span all groups.
    pub fn visit(&self, mut f: impl FnMut(&Coordinator)) {
        for (i, shard) in self.shards.iter().enumerate() {
            let machine = shard.machine.lock();
            if self.serves(i) {
                f(&machine);
            }
        }
    }

    /// ListGroups: every group (not Dead) in the given states (all when empty).
    pub fn list(&self, states: &[GroupState]) -> Vec<GroupListing> {
        let mut out = Vec::new();
        self.visit(|c| out.extend(c.list(states)));
        out
    }

    /// JoinGroup: waits (without holding any lock) until the rebalance answers.
    pub async fn join(&self, req: JoinRequest) -> JoinResponse {
        let member_id = req.member_id.clone();
        let group = req.group_id.clone();
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.run(&group, |c, now| c.join(now, req, tx)).await {
            return JoinResponse::error(e, &member_id);
        }
        // A dropped sender: the group was unloaded (leadership moved).
        rx.await
            .unwrap_or_else(|_| JoinResponse::error(ResponseError::NotCoordinator, &member_id))
    }

    /// SyncGroup: waits until the leader's assignment arrives.
    pub async fn sync(&self, req: SyncRequest) -> SyncResponse {
        let group = req.group_id.clone();
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.run(&group, |c, now| c.sync(now, req, tx)).await {
            return SyncResponse::error(e);
        }
        rx.await
            .unwrap_or_else(|_| SyncResponse::error(ResponseError::NotCoordinator))
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

/// The timer thread: runs due timers of the shards served here until the broker stops.
fn run(coordinator: Weak<GroupCoordinator>, wakeup: Arc<timer::Wakeup>) {
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
                c.run_in_background(index as i32, |m, now| m.tick(now));
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

/// Offset expiry in every shard served here, then compaction of their partitions.
fn expire_and_compact(c: &Arc<GroupCoordinator>) {
    for index in 0..c.shards.len() {
        c.run_in_background(index as i32, |m, now| {
            m.expire_offsets(now);
        });
    }
    for p in c.active_partitions() {
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
#[path = "ownership_tests.rs"]
mod ownership_tests;
