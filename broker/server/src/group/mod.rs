//! The group coordinator: Kafka's classic consumer group protocol and committed offsets.
//!
//! [`Coordinator`] is the deterministic state machine (no I/O, no clock); this module's
//! [`GroupCoordinator`] is its edge: it serialises inputs under one lock, writes the
//! records the machine asks for to `__consumer_offsets` before any response leaves,
//! completes parked JoinGroup/SyncGroup responses through oneshot channels, and runs
//! the timers from a background thread. It loads `__consumer_offsets` at start-up;
//! until then requests get COORDINATOR_LOAD_IN_PROGRESS.

mod classic;
pub mod coordinator;
pub mod member;
pub mod metrics;
pub mod offsets;
pub mod rebalance;
pub mod state;
pub mod store;
#[cfg(test)]
mod tests;

pub use coordinator::{Coordinator, Effects, GroupConfig, StoreRecord};
pub use offsets::{CommitRequest, FetchedOffset};
pub use rebalance::{JoinMember, JoinRequest, JoinResponse, Leaving, SyncRequest, SyncResponse};
pub use state::GroupState;

use crate::api::now_ms;
use crate::broker::Broker;
use crate::partition::Partition;
use kafka_protocol::error::ResponseError;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::oneshot;

/// The internal topic holding offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How often timers (sessions, rebalance deadlines) are checked.
const TICK: Duration = Duration::from_millis(50);
/// Kafka's `offsets.retention.check.interval.ms` default.
const EXPIRY_CHECK_MS: i64 = 600_000;

/// The coordinator of every group on this broker. Safe to share between threads.
pub struct GroupCoordinator {
    machine: Mutex<Coordinator>,
    /// `__consumer_offsets` partitions by index, once the topic exists.
    partitions: RwLock<BTreeMap<i32, Arc<Partition>>>,
    num_partitions: i32,
    loaded: AtomicBool,
    stopped: AtomicBool,
}

impl GroupCoordinator {
    pub fn new(config: &crate::config::BrokerConfig) -> Arc<GroupCoordinator> {
        Arc::new(GroupCoordinator {
            machine: Mutex::new(Coordinator::new(GroupConfig::from_broker(config))),
            partitions: RwLock::new(BTreeMap::new()),
            num_partitions: config.offsets_topic_num_partitions.max(1),
            loaded: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
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
        let spawned = std::thread::Builder::new()
            .name("group-coordinator".into())
            .spawn(move || run(weak, parts));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the group coordinator thread");
        }
    }

    /// Stops the timer thread and releases the `__consumer_offsets` partitions, so the
    /// broker can close their logs cleanly.
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::Release);
        let _guard = self.machine.lock();
        self.partitions.write().clear();
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The `__consumer_offsets` partition that stores `group`.
    pub fn partition_for(&self, group: &str) -> i32 {
        store::partition_for(group, self.num_partitions)
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
        let mut parts = self.partitions.write();
        for i in 0..self.num_partitions {
            if let Some(p) = broker.partition(OFFSETS_TOPIC, i) {
                parts.insert(i, p);
            }
        }
        Ok(())
    }

    /// Runs one input through the state machine, persists what it asks for, then
    /// completes the responses. Returns the input's direct result, or the storage
    /// error that kept its records from being written.
    pub fn run<R>(
        &self,
        input: impl FnOnce(&mut Coordinator, i64) -> R,
    ) -> Result<R, ResponseError> {
        let mut machine = self.machine.lock();
        let now = now_ms();
        let result = input(&mut machine, now);
        let effects = machine.take_effects();
        let written = self.persist(&effects.records, now);
        // Parked responses go out even if persisting failed: members must not hang.
        effects.deliver();
        written.map(|()| result)
    }

    /// [`GroupCoordinator::run`] for an input that changes `group`'s committed offsets
    /// (OffsetCommit): if they cannot be written, the group's offsets are put back as
    /// they were, so memory never holds a commit that `__consumer_offsets` does not.
    pub fn run_offsets<R>(
        &self,
        group: &str,
        input: impl FnOnce(&mut Coordinator, i64) -> R,
    ) -> Result<R, ResponseError> {
        let mut machine = self.machine.lock();
        let before = machine.groups.get(group).map(|g| g.offsets.clone());
        let now = now_ms();
        let result = input(&mut machine, now);
        let effects = machine.take_effects();
        let written = self.persist(&effects.records, now);
        if written.is_err() {
            if let Some(g) = machine.groups.get_mut(group) {
                g.offsets = before.unwrap_or_default();
            }
        }
        effects.deliver();
        written.map(|()| result)
    }

    fn persist(&self, records: &[StoreRecord], now: i64) -> Result<(), ResponseError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut by_partition: BTreeMap<i32, Vec<&StoreRecord>> = BTreeMap::new();
        for r in records {
            let group = match r {
                StoreRecord::Offset { group, .. } | StoreRecord::Group { group, .. } => group,
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
            if let Err(e) = p.log.append(&batch, 0, now) {
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
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.run(|c, now| c.join(now, req, tx)) {
            return JoinResponse::error(e, &member_id);
        }
        rx.await.unwrap_or_else(|_| {
            JoinResponse::error(ResponseError::CoordinatorNotAvailable, &member_id)
        })
    }

    /// SyncGroup: waits until the leader's assignment arrives.
    pub async fn sync(&self, req: SyncRequest) -> SyncResponse {
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.run(|c, now| c.sync(now, req, tx)) {
            return SyncResponse::error(e);
        }
        rx.await
            .unwrap_or_else(|_| SyncResponse::error(ResponseError::CoordinatorNotAvailable))
    }
}

/// The coordinator thread: load, then tick until the broker stops.
fn run(coordinator: Weak<GroupCoordinator>, parts: Vec<Arc<Partition>>) {
    let started = std::time::Instant::now();
    if let Some(c) = coordinator.upgrade() {
        let mut machine = c.machine.lock();
        let now = now_ms();
        let mut records = 0usize;
        for p in &parts {
            records += load_partition(&mut machine, p, now);
        }
        machine.finish_load();
        let groups = machine.groups.len();
        drop(machine);
        c.loaded.store(true, Ordering::Release);
        tracing::info!(
            groups,
            records,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "{OFFSETS_TOPIC} loaded"
        );
    }
    drop(parts);
    let mut last_expiry = now_ms();
    loop {
        std::thread::sleep(TICK);
        let Some(c) = coordinator.upgrade() else {
            return;
        };
        if c.stopped.load(Ordering::Acquire) {
            return;
        }
        let expiry_due = now_ms() - last_expiry >= EXPIRY_CHECK_MS;
        let _ = c.run(|m, now| {
            m.tick(now);
            if expiry_due {
                m.expire_offsets(now);
            }
        });
        if expiry_due {
            last_expiry = now_ms();
            let parts: Vec<_> = c.partitions.read().values().cloned().collect();
            for p in parts {
                if let Err(e) = p.log.compact() {
                    tracing::warn!(partition = p.index, error = %e, "{OFFSETS_TOPIC} compaction failed");
                }
            }
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
        let result = coordinator.run_offsets("g", |c, now| c.commit(now, commit));
        assert_eq!(result.err(), Some(ResponseError::CoordinatorNotAvailable));
        let fetched = coordinator.machine.lock().fetch_offsets("g", None);
        assert!(fetched.iter().all(|f| f.offset == -1), "{fetched:?}");
    }
}
