//! One fetcher task per source broker (Kafka's `ReplicaFetcherThread`): it fetches every
//! partition this broker follows from that leader over the leader's broker listener, with the
//! Fetch API and this broker's id as `replica_id`, appends the batches as the leader wrote
//! them and keeps the leader's high watermark. Before the first fetch under a new leader
//! epoch it cuts each log to the point where it diverges from the leader's
//! (OffsetForLeaderEpoch, KIP-101/279). It ends when it has nothing left to follow
//! from that leader; the [`manager`](super::manager) starts another when needed.

use super::role::Role;
use super::throttle::Side;
use crate::broker::Broker;
use crate::partition::Partition;
use fjord_client::{ClientConfig, Connection};
use fjord_replication::{truncation_point, Truncation};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use std::time::Duration;

/// The Fetch version the fetcher sends (replica id in the request body).
const VERSION: i16 = 12;
/// How long the leader may hold a fetch with nothing new (Kafka's `replica.fetch.wait.max.ms`).
const MAX_WAIT_MS: i32 = 500;
/// Per-partition bytes per fetch (Kafka's `replica.fetch.max.bytes`).
const PARTITION_MAX_BYTES: i32 = 1 << 20;
/// Pause after an error before trying again (Kafka's `replica.fetch.backoff.ms`).
const BACKOFF: Duration = Duration::from_millis(200);

/// The partitions this broker follows from `leader`, with their leader epochs.
fn followed(broker: &Broker, leader: i32) -> Vec<(Arc<Partition>, i32)> {
    broker
        .all_partitions()
        .into_iter()
        .filter_map(|p| {
            let epoch = match &*p.role.lock() {
                Role::Follower(f) if f.leader == leader => f.leader_epoch,
                _ => return None,
            };
            Some((p, epoch))
        })
        .collect()
}

/// The task: runs until nothing is followed from `leader`.
pub async fn run(broker: Arc<Broker>, leader: i32) {
    let mut conn: Option<Connection> = None;
    loop {
        let parts = followed(&broker, leader);
        if parts.is_empty() {
            return;
        }
        if conn.is_none() {
            match connect(&broker, leader).await {
                Some(c) => conn = Some(c),
                None => {
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        if let Err(e) = truncate_to_divergence(c, &broker, &parts).await {
            tracing::debug!(leader, error = %e, "OffsetForLeaderEpoch failed; reconnecting");
            conn = None;
            tokio::time::sleep(BACKOFF).await;
            continue;
        }
        let req = request(&broker, &parts);
        if req.topics.is_empty() {
            // Every partition waits for its divergence point (the leader refused to say), or
            // for the follower-side replication quota.
            let throttled = broker.throttle_wait(Side::Follower);
            tokio::time::sleep(if throttled.is_zero() {
                BACKOFF
            } else {
                throttled
            })
            .await;
            continue;
        }
        match c.send(req, VERSION).await {
            Ok(resp) => {
                if !apply(&broker, &parts, resp).await {
                    tokio::time::sleep(BACKOFF).await;
                }
            }
            Err(e) => {
                tracing::debug!(leader, error = %e, "replica fetch failed; reconnecting");
                conn = None;
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

/// Partitions not yet cut to their divergence point under their current leader epoch.
fn untruncated(parts: &[(Arc<Partition>, i32)]) -> Vec<(Arc<Partition>, i32)> {
    parts
        .iter()
        .filter(|(p, epoch)| {
            matches!(&*p.role.lock(), Role::Follower(f) if !f.truncated && f.leader_epoch == *epoch)
        })
        .cloned()
        .collect()
}

/// Before the first fetch under a leader epoch, with that leader reachable: ask it where this
/// replica's latest epoch ends (OffsetForLeaderEpoch) and cut the log there (KIP-101/279), so
/// no record the leader lacks is kept, and none it has is dropped. A log without epochs, or a
/// leader that does not serve the API, falls back to the high watermark. `Err` when the
/// connection failed (reconnect).
async fn truncate_to_divergence(
    c: &mut Connection,
    broker: &Broker,
    parts: &[(Arc<Partition>, i32)],
) -> Result<(), fjord_client::ClientError> {
    let pending = untruncated(parts);
    if pending.is_empty() {
        return Ok(());
    }
    let version = match c.negotiate::<OffsetForLeaderEpochRequest>() {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::warn!(
                leader = c.addr(),
                "the leader does not serve OffsetForLeaderEpoch: truncating to the high watermark"
            );
            None
        }
    };
    let mut ask = Vec::new();
    for (p, epoch) in &pending {
        match (version, p.log.latest_epoch()) {
            (Some(_), Some(latest)) => ask.push((p.clone(), *epoch, latest)),
            _ => {
                let hw = p.high_watermark();
                truncate_off_worker(p.clone(), *epoch, hw, true, "the high watermark").await;
            }
        }
    }
    let Some(version) = version.filter(|_| !ask.is_empty()) else {
        return Ok(());
    };
    let resp = c.send(epoch_request(broker, &ask), version).await?;
    for t in resp.topics {
        for answer in t.partitions {
            let Some((p, epoch, _)) = ask
                .iter()
                .find(|(p, _, _)| *p.topic == *t.topic.0 && p.index == answer.partition)
            else {
                continue;
            };
            if answer.error_code != 0 {
                let e = ResponseError::try_from_code(answer.error_code);
                tracing::debug!(topic = %p.topic, partition = p.index, error = ?e, "leader refused OffsetForLeaderEpoch");
                continue;
            }
            let log_end = p.log.log_end_offset();
            let point = truncation_point(
                answer.leader_epoch,
                answer.end_offset,
                |e| {
                    let (found, end) = p.log.end_offset_for_epoch(e);
                    (end >= 0).then_some((found, end))
                },
                log_end,
                p.high_watermark(),
            );
            match point {
                Truncation::Done(offset) => {
                    truncate_off_worker(p.clone(), *epoch, offset, true, "the divergence point")
                        .await
                }
                Truncation::AskAgain(offset) => {
                    truncate_off_worker(
                        p.clone(),
                        *epoch,
                        offset,
                        false,
                        "the end of an epoch the leader lacks",
                    )
                    .await
                }
            }
        }
    }
    Ok(())
}

/// [`truncate`] on the blocking pool: cutting a log is file I/O.
async fn truncate_off_worker(
    p: Arc<Partition>,
    epoch: i32,
    offset: i64,
    done: bool,
    why: &'static str,
) {
    let (topic, index) = (p.topic.clone(), p.index);
    if let Err(e) = crate::blocking::spawn(move || truncate(&p, epoch, offset, done, why)).await {
        tracing::error!(topic = %topic, partition = index, error = %e, "follower truncation task failed");
    }
}

/// Cuts the log to `offset` if the partition still follows under `epoch`; marks it ready to
/// fetch when `done`.
fn truncate(p: &Partition, epoch: i32, offset: i64, done: bool, why: &str) {
    let mut role = p.role.lock();
    let Role::Follower(f) = &mut *role else {
        return;
    };
    if f.truncated || f.leader_epoch != epoch {
        return;
    }
    let end = p.log.log_end_offset();
    // Also at the log end: that drops an epoch entry without records (see `truncate_to`).
    if let Err(e) = p.log.truncate_to(offset) {
        tracing::error!(topic = %p.topic, partition = p.index, error = %e, "follower truncation failed");
        return;
    }
    if offset < end {
        tracing::info!(topic = %p.topic, partition = p.index, offset, log_end = end, "truncated to {why} before following");
    }
    f.truncated = done;
}

fn epoch_request(
    broker: &Broker,
    ask: &[(Arc<Partition>, i32, i32)],
) -> OffsetForLeaderEpochRequest {
    let partitions = ask.iter().map(|(p, current, latest)| {
        let op = OffsetForLeaderPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(*current)
            .with_leader_epoch(*latest);
        (&**p, op)
    });
    let topics = by_topic(partitions)
        .into_iter()
        .map(|(topic, ps)| {
            OffsetForLeaderTopic::default()
                .with_topic(topic)
                .with_partitions(ps)
        })
        .collect();
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(broker.config.node_id))
        .with_topics(topics)
}

/// `items` grouped under their partition's topic, topics in first-seen order: a request
/// names each topic once.
fn by_topic<'a, T>(
    items: impl IntoIterator<Item = (&'a Partition, T)>,
) -> Vec<(TopicName, Vec<T>)> {
    let mut out: Vec<(TopicName, Vec<T>)> = Vec::new();
    for (p, item) in items {
        match out.iter_mut().find(|(t, _)| *t.0 == *p.topic) {
            Some((_, v)) => v.push(item),
            None => out.push((
                TopicName(StrBytes::from_string(p.topic.to_string())),
                vec![item],
            )),
        }
    }
    out
}

async fn connect(broker: &Broker, leader: i32) -> Option<Connection> {
    let image = broker.image();
    let b = image.brokers.get(&leader).filter(|b| !b.fenced)?;
    let e = b.endpoint(&broker.config.listener_name)?;
    let addr = format!("{}:{}", e.host, e.port);
    let config = ClientConfig {
        client_id: format!("fjord-replica-fetcher-{}", broker.config.node_id),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_millis(MAX_WAIT_MS as u64) + Duration::from_secs(10),
        ..ClientConfig::default()
    };
    match Connection::connect(&addr, &config).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::debug!(leader, addr, error = %e, "cannot reach the leader to fetch from");
            None
        }
    }
}

/// The fetch for every partition ready to fetch: cut to its divergence point, and not a
/// throttled out-of-sync replica while the follower-side quota is exceeded (KIP-73).
fn request(broker: &Broker, parts: &[(Arc<Partition>, i32)]) -> FetchRequest {
    let me = broker.config.node_id;
    let ready = parts
        .iter()
        .filter(|(p, _)| matches!(&*p.role.lock(), Role::Follower(f) if f.truncated))
        .filter_map(|(p, epoch)| {
            let mut max_bytes = PARTITION_MAX_BYTES;
            if broker.throttled(Side::Follower, &p.topic, p.index, me) {
                match broker.throttle_allowance(Side::Follower) {
                    0 => return None,
                    n => max_bytes = max_bytes.min(i32::try_from(n).unwrap_or(i32::MAX)),
                }
            }
            let fp = FetchPartition::default()
                .with_partition(p.index)
                .with_current_leader_epoch(*epoch)
                .with_fetch_offset(p.log.log_end_offset())
                .with_log_start_offset(p.log.log_start_offset())
                .with_partition_max_bytes(max_bytes);
            Some((&**p, fp))
        });
    let topics: Vec<FetchTopic> = by_topic(ready)
        .into_iter()
        .map(|(topic, ps)| FetchTopic::default().with_topic(topic).with_partitions(ps))
        .collect();
    FetchRequest::default()
        .with_replica_id(BrokerId(broker.config.node_id))
        .with_max_wait_ms(MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(broker.config.fetch_max_bytes.min(i32::MAX as usize) as i32)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// Appends what came back; false when every partition failed (back off then).
async fn apply(
    broker: &Broker,
    parts: &[(Arc<Partition>, i32)],
    resp: kafka_protocol::messages::FetchResponse,
) -> bool {
    let mut any_ok = false;
    for t in resp.responses {
        for pd in t.partitions {
            let Some((p, epoch)) = parts
                .iter()
                .find(|(p, _)| *p.topic == *t.topic.0 && p.index == pd.partition_index)
            else {
                continue;
            };
            if pd.error_code != 0 {
                let e = ResponseError::try_from_code(pd.error_code);
                tracing::debug!(topic = %p.topic, partition = p.index, error = ?e, "leader refused a replica fetch");
                continue;
            }
            any_ok = true;
            let records = pd.records.unwrap_or_default();
            if broker.throttled(Side::Follower, &p.topic, p.index, broker.config.node_id) {
                broker.throttle_record(Side::Follower, records.len());
            }
            if !records.is_empty() {
                let (part, data) = (p.clone(), records);
                let appended = crate::blocking::spawn(move || {
                    let now = crate::api::now_ms();
                    let (end, sync) = part.log.append_as_follower(&data, now)?;
                    if let Some(end) = sync {
                        part.log.sync_to(end)?;
                    }
                    Ok::<i64, fjord_storage::StorageError>(end)
                })
                .await;
                match appended {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "follower append failed");
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "follower append task failed");
                        continue;
                    }
                }
            }
            let mut role = p.role.lock();
            if let Role::Follower(f) = &mut *role {
                if f.leader_epoch == *epoch {
                    f.high_watermark = pd.high_watermark.min(p.log.log_end_offset()).max(0);
                }
            }
            drop(role);
            p.wake_waiters();
        }
    }
    any_ok
}
