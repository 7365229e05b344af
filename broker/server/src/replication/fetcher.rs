//! One fetcher task per source broker (Kafka's `ReplicaFetcherThread`): it fetches every
//! partition this broker follows from that leader over the leader's broker listener, with the
//! Fetch API and this broker's id as `replica_id`, appends the batches as the leader wrote
//! them and keeps the leader's high watermark. It ends when it has nothing left to follow
//! from that leader; the [`manager`](super::manager) starts another when needed.

use super::role::Role;
use crate::broker::Broker;
use crate::partition::Partition;
use fjord_client::{ClientConfig, Connection};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
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
        if needs_truncation(&parts) {
            // Cutting a log is file I/O: on the blocking pool, not this worker thread.
            let cut = parts.clone();
            if let Err(e) = crate::blocking::spawn(move || truncate_once(&cut)).await {
                tracing::error!(leader, error = %e, "follower truncation task failed");
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        }
        let req = request(&broker, &parts);
        match c.send(req, VERSION).await {
            Ok(resp) => {
                if !apply(&parts, resp).await {
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

/// Whether a partition still waits for [`truncate_once`] (a look at the roles, no I/O).
fn needs_truncation(parts: &[(Arc<Partition>, i32)]) -> bool {
    parts.iter().any(|(p, epoch)| {
        matches!(&*p.role.lock(), Role::Follower(f) if !f.truncated && f.leader_epoch == *epoch)
    })
}

/// Before the first fetch under a leader epoch, with that leader reachable: cut the log to
/// the high watermark, dropping a tail the leader may not have. Blocking file I/O: run it on
/// the blocking pool.
fn truncate_once(parts: &[(Arc<Partition>, i32)]) {
    for (p, epoch) in parts {
        let mut role = p.role.lock();
        let Role::Follower(f) = &mut *role else {
            continue;
        };
        if f.truncated || f.leader_epoch != *epoch {
            continue;
        }
        let hw = f.high_watermark.min(p.log.log_end_offset());
        if p.log.log_end_offset() > hw {
            match p.log.truncate_to(hw) {
                Ok(()) => {
                    tracing::info!(topic = %p.topic, partition = p.index, offset = hw, "truncated to the high watermark before following")
                }
                Err(e) => {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "follower truncation failed");
                    continue;
                }
            }
        }
        f.truncated = true;
    }
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

fn request(broker: &Broker, parts: &[(Arc<Partition>, i32)]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    let ready = parts
        .iter()
        .filter(|(p, _)| matches!(&*p.role.lock(), Role::Follower(f) if f.truncated));
    for (p, epoch) in ready {
        let fp = FetchPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(*epoch)
            .with_fetch_offset(p.log.log_end_offset())
            .with_log_start_offset(p.log.log_start_offset())
            .with_partition_max_bytes(PARTITION_MAX_BYTES);
        match topics.iter_mut().find(|t| *t.topic.0 == *p.topic) {
            Some(t) => t.partitions.push(fp),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(p.topic.to_string())))
                    .with_partitions(vec![fp]),
            ),
        }
    }
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
