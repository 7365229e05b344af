//! Fetch (key 1): whole batches from the log, up to the high watermark, with
//! long-polling until `min_bytes` arrive or `max_wait_ms` passes.
//!
//! The response is capped by the smaller of the request's `max_bytes` and the broker's
//! `fetch.max.bytes`, and each partition by its `partition_max_bytes`; as in Kafka (KIP-74)
//! the first batch of the response is returned whole even when larger, so a consumer always
//! makes progress (a batch is itself bounded by `message.max.bytes` when produced).
//!
//! A long-poll registers on its partitions once, wakes once per append (or at its deadline),
//! and then reads only what was appended since its last read: the bytes it already holds are
//! kept, not read again.
//!
//! The response's record data is not copied into memory: reads note where the batches lie
//! ([`fjord_storage::FileSlice`]) and the connection streams them from the files in bounded
//! chunks when it writes the response (`crate::stream`).
//!
//! Reads run on tokio's blocking pool: data not in the page cache waits for the disk, which
//! must not hold a runtime worker thread (and every connection it serves) meanwhile.
//!
//! From v12 a fetch naming `last_fetched_epoch` is checked against the leader-epoch cache
//! (KIP-320): a fetcher whose log diverges from the leader's gets `diverging_epoch` instead of
//! records.
//!
//! A consumer's Fetch v11+ may be served by a follower, up to the follower's high watermark
//! (KIP-392); with `replica.selector.class` set to the rack-aware selector the leader names an
//! in-sync follower in the consumer's rack (`rack_id`) as its preferred read replica. A
//! follower replica's fetch of a throttled, out-of-sync replica is bounded by the leader-side
//! replication quota (KIP-73).
//!
//! Fetch sessions (KIP-227) are declined the way the protocol allows: a request to
//! open a session gets `session_id = 0`, so clients keep sending full fetches.

use crate::leadership::NO_EPOCH;
use crate::partition::{Partition, Watch};
use crate::replication::role::Role;
use crate::replication::throttle::Side;
use crate::router::RequestContext;
use crate::stream::Marked;
use bytes::Bytes;
use fjord_storage::{FileSlice, StorageError};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub const MIN_VERSION: i16 = 4;
pub const MAX_VERSION: i16 = 12;

/// The response, with a marker in each records field that `marked` fills from the log.
pub async fn handle(
    ctx: &RequestContext,
    req: FetchRequest,
) -> Option<(FetchResponse, Vec<Marked>)> {
    if let Some(code) = session_error(&req) {
        return Some((
            FetchResponse::default().with_error_code(code.code()),
            Vec::new(),
        ));
    }
    // Kafka's rule: the response is capped by the request and by the broker, and min_bytes
    // can never ask for more than that cap.
    let max_bytes = (req.max_bytes.max(0) as usize).min(ctx.broker.config.fetch_max_bytes);
    let min_bytes = (req.min_bytes.max(0) as usize).min(max_bytes);
    let mut fetch = PendingFetch::new(ctx, &req, max_bytes);
    let max_wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let deadline = tokio::time::Instant::now() + max_wait;

    let server_error = || {
        Some((
            FetchResponse::default().with_error_code(ResponseError::UnknownServerError.code()),
            Vec::new(),
        ))
    };
    let Some(f) = read_new(fetch).await else {
        return server_error();
    };
    fetch = f;
    if !fetch.satisfied(min_bytes) && tokio::time::Instant::now() < deadline {
        // Register once, then read again: an append between the first read and the
        // registration is picked up by this read, any later one wakes us.
        let waker = Arc::new(Notify::new());
        let _watches = fetch.watch(&waker);
        let Some(f) = read_new(fetch).await else {
            return server_error();
        };
        fetch = f;
        while !fetch.satisfied(min_bytes) {
            // Timed out: one last look answers with whatever is there.
            let timed_out = tokio::time::timeout_at(deadline, waker.notified())
                .await
                .is_err();
            let Some(f) = read_new(fetch).await else {
                return server_error();
            };
            fetch = f;
            if timed_out {
                break;
            }
        }
    }
    Some(fetch.respond(ctx, &req))
}

/// [`PendingFetch::read_new`] on the blocking pool; `None` if the task panicked (a bug,
/// reported by the panic hook and logged here).
async fn read_new(mut fetch: PendingFetch) -> Option<PendingFetch> {
    let read = crate::blocking::spawn(move || {
        fetch.read_new();
        fetch
    });
    match read.await {
        Ok(fetch) => Some(fetch),
        Err(e) => {
            tracing::error!(error = %e, "fetch read task failed");
            None
        }
    }
}

/// KIP-227 without sessions: only sessionless full fetches are served.
fn session_error(req: &FetchRequest) -> Option<ResponseError> {
    match (req.session_id, req.session_epoch) {
        // Full fetch without a session, or a request to open one (declined by id 0).
        (0, -1) | (0, 0) => None,
        // Closing a session: none exists, so serve it as a sessionless fetch.
        (_, -1) => None,
        (0, _) => Some(ResponseError::InvalidFetchSessionEpoch),
        (_, _) => Some(ResponseError::FetchSessionIdNotFound),
    }
}

/// One requested partition while its fetch is served: what was read so far and where the
/// next read starts.
struct Slot {
    partition: Option<Arc<Partition>>,
    index: i32,
    next_offset: i64,
    max_bytes: usize,
    /// Where the batches read so far lie, in offset order.
    slices: Vec<FileSlice>,
    bytes: usize,
    error: Option<i16>,
    /// Read at least once (the response then carries `records`, possibly empty).
    read: bool,
    /// KIP-320: the fetcher's log diverges from ours at `fetch_offset`; answered with the
    /// largest common epoch and its end offset, and no records.
    diverging: Option<(i32, i64)>,
    /// A follower's replica under the leader-side replication throttle (KIP-73).
    throttled: bool,
    /// KIP-392: the replica this consumer should fetch from instead (answered at once,
    /// without records).
    preferred: Option<i32>,
}

/// The state of one Fetch request across its wake-ups.
struct PendingFetch {
    topics: Vec<Vec<Slot>>,
    /// Record bytes held for the response.
    total: usize,
    /// Response bytes still allowed (`min(max_bytes, fetch.max.bytes)` minus `total`).
    remaining: usize,
    /// A partition failed: the fetch answers at once.
    failed: bool,
    /// A follower's fetch: reads go up to the log end, not the high watermark.
    replica: bool,
    /// The broker, when some partition is under the leader-side replication throttle.
    throttle: Option<Arc<crate::broker::Broker>>,
}

impl PendingFetch {
    fn new(ctx: &RequestContext, req: &FetchRequest, max_bytes: usize) -> PendingFetch {
        let mut failed = false;
        // A broker's fetch (replica id set) reads up to the log end; a consumer's only up to
        // the high watermark.
        let replica = (req.replica_id.0 >= 0).then_some(req.replica_id.0);
        let now = crate::replication::manager::now_ms();
        let authz = crate::security::authorizer::Authz::new(ctx);
        // Kafka: a follower's fetch needs CLUSTER_ACTION on the cluster, a consumer's READ on
        // the topic.
        let replica_allowed = authz.cluster(crate::security::acl::op::CLUSTER_ACTION);
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let allowed = authz.topic(crate::security::acl::op::READ, &t.topic.0);
                t.partitions
                    .iter()
                    .map(|fp| {
                        // current_leader_epoch exists from v9; before, -1 (none).
                        let epoch = if ctx.version >= 9 {
                            fp.current_leader_epoch
                        } else {
                            NO_EPOCH
                        };
                        let permitted = if replica.is_some() {
                            replica_allowed
                        } else {
                            allowed
                        };
                        // KIP-392: a consumer's Fetch v11+ may be served by a follower.
                        let from_replica = replica.is_none() && ctx.version >= 11;
                        let mut found = match (permitted, from_replica) {
                            (false, _) => Err(ResponseError::TopicAuthorizationFailed),
                            (true, true) => {
                                ctx.broker
                                    .replica_partition(&t.topic.0, fp.partition, epoch)
                            }
                            (true, false) => {
                                ctx.broker.leader_partition(&t.topic.0, fp.partition, epoch)
                            }
                        };
                        let diverging = match &found {
                            Ok((p, _)) if ctx.version >= 12 => {
                                diverging_epoch(p, fp.last_fetched_epoch, fp.fetch_offset)
                            }
                            _ => None,
                        };
                        if let (Ok((p, _)), Some(r), None) = (&found, replica, diverging) {
                            // A follower's fetch offset is its log end: the leader's
                            // replication state learns it before anything is read (unless
                            // its log diverges from ours there, then it is not its end).
                            match p.follower_fetched(r, fp.fetch_offset, now) {
                                Ok((_, changes)) => {
                                    ctx.broker.replication.propose(&p.topic, p.index, changes)
                                }
                                Err(code) => found = Err(code),
                            }
                        }
                        let throttled = match (&found, replica) {
                            (Ok((p, _)), Some(r)) => {
                                ctx.broker.throttled(Side::Leader, &p.topic, p.index, r)
                            }
                            _ => false,
                        };
                        let preferred = match &found {
                            Ok((p, _)) if from_replica => {
                                preferred_read_replica(ctx, p, &req.rack_id, fp.fetch_offset)
                            }
                            _ => None,
                        };
                        let (partition, error) = match found {
                            Ok((p, _)) => (Some(p), None),
                            Err(code) => (None, Some(code.code())),
                        };
                        // A diverging partition, or one to be read elsewhere, is answered at
                        // once, like an error.
                        failed |= error.is_some() || diverging.is_some() || preferred.is_some();
                        Slot {
                            partition,
                            index: fp.partition,
                            next_offset: fp.fetch_offset,
                            max_bytes: fp.partition_max_bytes.max(0) as usize,
                            slices: Vec::new(),
                            bytes: 0,
                            error,
                            read: diverging.is_some() || preferred.is_some(),
                            diverging,
                            throttled,
                            preferred,
                        }
                    })
                    .collect()
            })
            .collect::<Vec<Vec<Slot>>>();
        let throttle = (topics.iter().flatten().any(|s| s.throttled)).then(|| ctx.broker.clone());
        PendingFetch {
            topics,
            total: 0,
            remaining: max_bytes,
            failed,
            replica: replica.is_some(),
            throttle,
        }
    }

    fn satisfied(&self, min_bytes: usize) -> bool {
        self.failed || self.total >= min_bytes
    }

    /// Registers `waker` once on every distinct partition of the request.
    fn watch(&self, waker: &Arc<Notify>) -> Vec<Watch> {
        let mut seen: Vec<&Arc<Partition>> = Vec::new();
        for p in self
            .topics
            .iter()
            .flatten()
            .filter_map(|s| s.partition.as_ref())
        {
            if !seen.iter().any(|q| Arc::ptr_eq(q, p)) {
                seen.push(p);
            }
        }
        seen.into_iter().map(|p| p.watch(waker.clone())).collect()
    }

    /// Reads, for every partition, only what was appended since its last read.
    fn read_new(&mut self) {
        let PendingFetch {
            topics,
            total,
            remaining,
            failed,
            replica,
            throttle,
        } = self;
        for slot in topics.iter_mut().flatten() {
            if slot.error.is_some() || slot.diverging.is_some() || slot.preferred.is_some() {
                continue;
            }
            let Some(p) = slot.partition.clone() else {
                continue;
            };
            let hwm = if *replica {
                p.log.log_end_offset()
            } else {
                p.high_watermark()
            };
            if slot.read && slot.next_offset >= hwm {
                continue; // nothing new since the last read
            }
            // KIP-73: a throttled out-of-sync follower gets at most what the leader's quota
            // allows, and no records while it is exceeded.
            let throttle = throttle.as_ref().filter(|_| slot.throttled);
            let allowance = throttle.map_or(usize::MAX, |b| b.throttle_allowance(Side::Leader));
            if allowance == 0 {
                continue;
            }
            let limit = (slot.max_bytes - slot.bytes).min(*remaining).min(allowance);
            // KIP-74: the first batch of the whole response is returned even if larger.
            let min_one = *total == 0;
            if limit == 0 && !min_one {
                continue;
            }
            match p.log.read_slices(slot.next_offset, limit, hwm, min_one) {
                Ok(r) => {
                    slot.read = true;
                    let Some(next) = r.next_offset else {
                        continue;
                    };
                    slot.next_offset = next;
                    let n = r.bytes;
                    if let Some(b) = throttle {
                        b.throttle_record(Side::Leader, n);
                    }
                    slot.bytes += n;
                    *total += n;
                    *remaining = remaining.saturating_sub(n);
                    slot.slices.extend(r.slices);
                }
                Err(e @ StorageError::OffsetOutOfRange { .. }) => {
                    tracing::debug!(topic = %p.topic, partition = p.index, error = %e, "fetch out of range");
                    slot.fail(ResponseError::OffsetOutOfRange.code(), total, failed);
                }
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "read failed");
                    slot.fail(e.kafka_error_code(), total, failed);
                }
            }
        }
    }

    fn respond(self, ctx: &RequestContext, req: &FetchRequest) -> (FetchResponse, Vec<Marked>) {
        let mut responses = Vec::with_capacity(self.topics.len());
        let mut marked = Vec::new();
        for (slots, topic) in self.topics.into_iter().zip(&req.topics) {
            let bytes: usize = slots.iter().map(|s| s.bytes).sum();
            if bytes > 0 {
                ctx.broker
                    .metrics
                    .bytes_out
                    .with_label_values(&[&*topic.topic.0])
                    .inc_by(bytes as u64);
            }
            let partitions = slots
                .into_iter()
                .map(|s| s.into_response(&mut marked))
                .collect();
            responses.push(
                FetchableTopicResponse::default()
                    .with_topic(topic.topic.clone())
                    .with_partitions(partitions),
            );
        }
        let resp = FetchResponse::default()
            .with_session_id(0)
            .with_responses(responses);
        (resp, marked)
    }
}

impl Slot {
    /// A failed partition answers with its error alone; what it had read is dropped.
    fn fail(&mut self, code: i16, total: &mut usize, failed: &mut bool) {
        *failed = true;
        *total -= self.bytes;
        self.bytes = 0;
        self.slices.clear();
        self.error = Some(code);
    }

    /// The partition's answer; its records are a marker added to `marked`.
    fn into_response(self, marked: &mut Vec<Marked>) -> PartitionData {
        let Some(p) = self.partition else {
            // `new` named the reason (offline or unknown) in `error`.
            let code = self
                .error
                .unwrap_or(ResponseError::UnknownTopicOrPartition.code());
            return error(self.index, code);
        };
        let hwm = p.high_watermark();
        let resp = PartitionData::default()
            .with_partition_index(self.index)
            .with_high_watermark(hwm)
            .with_last_stable_offset(hwm)
            .with_log_start_offset(p.log.log_start_offset());
        match self.error {
            Some(code) if code == ResponseError::UnknownLeaderEpoch.code() => {
                error(self.index, ResponseError::UnknownLeaderEpoch.code())
            }
            Some(code) => resp.with_error_code(code),
            None if self.diverging.is_some() => {
                let diverging = self
                    .diverging
                    .map_or_else(EpochEndOffset::default, |(e, o)| {
                        EpochEndOffset::default().with_epoch(e).with_end_offset(o)
                    });
                resp.with_records(Some(Bytes::new()))
                    .with_diverging_epoch(diverging)
            }
            None if self.preferred.is_some() => resp
                .with_records(Some(Bytes::new()))
                .with_preferred_read_replica(BrokerId(self.preferred.unwrap_or(-1))),
            None if self.read && self.slices.is_empty() => resp.with_records(Some(Bytes::new())),
            None if self.read => {
                let m = Marked::new(self.slices);
                let resp = resp.with_records(Some(m.marker.clone()));
                marked.push(m);
                resp
            }
            None => resp,
        }
    }
}

/// KIP-320 (Fetch v12+, Kafka's `validateFetchOffsetAndMaybeGetDivergingEpoch`): a fetcher
/// that names the epoch of the last batch it holds diverges from this leader when the leader
/// has no such epoch or that epoch ends here before `fetch_offset`. Then the answer is where
/// the largest epoch at or below it ends, for the fetcher to truncate to.
fn diverging_epoch(
    p: &Partition,
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> Option<(i32, i64)> {
    if last_fetched_epoch < 0 {
        return None;
    }
    let (epoch, end) = p.log.end_offset_for_epoch(last_fetched_epoch);
    (epoch < last_fetched_epoch || end < fetch_offset).then_some((epoch, end))
}

/// KIP-392 with Kafka's `RackAwareReplicaSelector`, on the leader: for a consumer in another
/// rack than this broker, the most caught-up in-sync follower in the consumer's rack that
/// has `fetch_offset`, if any (`ReplicaManager.findPreferredReadReplica`). `None`: read here.
fn preferred_read_replica(
    ctx: &RequestContext,
    p: &Partition,
    rack: &str,
    fetch_offset: i64,
) -> Option<i32> {
    let broker = &ctx.broker;
    if !broker.config.rack_aware_reads || rack.is_empty() {
        return None;
    }
    if broker.config.rack.as_deref() == Some(rack) {
        return None; // the leader is in the consumer's rack
    }
    let candidates: Vec<(i32, i64)> = match &*p.role.lock() {
        Role::Leader(l) => (l.state.isr().iter())
            .filter(|id| **id != broker.config.node_id)
            .filter_map(|id| Some((*id, l.state.follower_leo(*id)?)))
            .filter(|(_, leo)| *leo >= fetch_offset)
            .collect(),
        _ => return None, // a follower serves what it has
    };
    let image = broker.image();
    candidates
        .into_iter()
        .filter(|(id, _)| {
            image.brokers.get(id).is_some_and(|b| {
                !b.fenced && b.rack.as_deref() == Some(rack) && !b.endpoints.is_empty()
            })
        })
        .max_by_key(|(_, leo)| *leo)
        .map(|(id, _)| id)
}

fn error(partition: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
}
