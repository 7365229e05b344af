//! Writing a shard's records to its `__consumer_offsets` partition with `acks=all`, as
//! Kafka's coordinator does: the records are appended by the leader under its current
//! leader epoch, and the input's answers (an OffsetCommit's result, parked JoinGroup and
//! SyncGroup responses) go out only once the high watermark has passed them, or fail after
//! `offsets.commit.timeout.ms`.
//!
//! Errors are Kafka's coordinator mapping (`CoordinatorRuntime` / `normalizeException`):
//! not enough replicas and timeouts become COORDINATOR_NOT_AVAILABLE (retry here), lost
//! leadership and storage failures NOT_COORDINATOR (find the coordinator again), a batch
//! too large UNKNOWN_SERVER_ERROR. A failed write puts back the offsets it committed in
//! memory (unless a later commit replaced them), and its parked responses carry the error.

use super::coordinator::{Effects, OffsetUndo, StoreRecord};
use super::{store, GroupCoordinator, OFFSETS_TOPIC};
use crate::partition::Partition;
use crate::replication::role::{AcksAllWait, Role};
use fjord_replication::AcksAllOutcome;
use kafka_protocol::error::ResponseError;
use std::sync::Arc;
use std::time::Duration;

/// An input's answers, held until its records are replicated.
pub(super) struct Pending {
    pub index: i32,
    /// The partition written and what it waits on; `None` when nothing was written.
    pub wait: Option<(Arc<Partition>, AcksAllWait)>,
    pub effects: Effects,
    pub undo: Vec<OffsetUndo>,
    pub timeout: Duration,
}

/// Appends `records` as the leader at `leader_epoch`; answers what to wait on.
pub(super) fn append(
    p: &Arc<Partition>,
    leader_epoch: i32,
    records: &[StoreRecord],
    now: i64,
) -> Result<AcksAllWait, ResponseError> {
    let refs: Vec<&StoreRecord> = records.iter().collect();
    let batch = store::batch(&refs, now).map_err(|e| {
        tracing::error!(error = %e, "cannot encode a {OFFSETS_TOPIC} batch");
        ResponseError::UnknownServerError
    })?;
    // Leadership is checked and the batch appended under the role lock, so a broker that
    // has just become a follower never adds a record of its own to the log.
    let role = p.role.lock();
    let leads = match &*role {
        Role::Sole => true,
        Role::Leader(l) => l.state.leader_epoch() == leader_epoch,
        Role::Follower(_) => false,
    };
    if !leads {
        return Err(ResponseError::NotCoordinator);
    }
    // File I/O from code that may run on a runtime worker (the handlers' `run`).
    let appended =
        crate::blocking::block_in_place(|| p.log.append_unsynced(&batch, leader_epoch, now));
    drop(role);
    let (info, sync) = appended.map_err(|e| storage_error(p, &e))?;
    if let Some(end) = sync {
        crate::blocking::block_in_place(|| p.log.sync_to(end)).map_err(|e| storage_error(p, &e))?;
    }
    // An append only moves a lone leader's high watermark; ISR changes come from fetches.
    let _ = p.leader_appended();
    p.wake_waiters();
    let required = info.last_offset + 1;
    Ok(p.park_acks_all(required)
        .unwrap_or(AcksAllWait::Now(AcksAllOutcome::Committed)))
}

fn storage_error(p: &Partition, e: &fjord_storage::StorageError) -> ResponseError {
    tracing::error!(partition = p.index, error = %e, "cannot write to {OFFSETS_TOPIC}");
    let code = e.kafka_error_code();
    if code == ResponseError::MessageTooLarge.code()
        || code == ResponseError::RecordListTooLarge.code()
    {
        ResponseError::UnknownServerError
    } else {
        ResponseError::NotCoordinator
    }
}

impl Pending {
    /// Waits for the records to be replicated, then answers; on failure puts back the
    /// offsets and answers the parked responses with the error.
    pub async fn finish(self, coordinator: &GroupCoordinator) -> Result<(), ResponseError> {
        let Pending {
            index,
            wait,
            effects,
            undo,
            timeout,
        } = self;
        let outcome = match wait {
            None => Ok(()),
            Some((_, AcksAllWait::Now(outcome))) => mapped(outcome),
            Some((p, AcksAllWait::Later(id, rx))) => {
                match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(outcome)) => mapped(outcome),
                    // The leadership ended while waiting.
                    Ok(Err(_)) => Err(ResponseError::NotCoordinator),
                    Err(_) => {
                        p.cancel_acks_all(id);
                        Err(ResponseError::CoordinatorNotAvailable)
                    }
                }
            }
        };
        finish_with(coordinator, index, effects, undo, outcome)
    }
}

/// Answers an input whose write is decided.
pub(super) fn finish_with(
    coordinator: &GroupCoordinator,
    index: i32,
    effects: Effects,
    undo: Vec<OffsetUndo>,
    outcome: Result<(), ResponseError>,
) -> Result<(), ResponseError> {
    match outcome {
        Ok(()) => effects.deliver(),
        Err(e) => {
            if !undo.is_empty() {
                coordinator.shard(index).machine.lock().rollback(undo);
            }
            effects.fail(e);
        }
    }
    outcome
}

fn mapped(outcome: AcksAllOutcome) -> Result<(), ResponseError> {
    match outcome {
        AcksAllOutcome::Committed => Ok(()),
        AcksAllOutcome::NotEnoughReplicas | AcksAllOutcome::NotEnoughReplicasAfterAppend => {
            Err(ResponseError::CoordinatorNotAvailable)
        }
    }
}
