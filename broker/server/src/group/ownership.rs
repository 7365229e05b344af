//! Which `__consumer_offsets` partitions this broker coordinates (Kafka's
//! `GroupCoordinator.onElection` / `onResignation`): the groups of a partition are served
//! by its leader only.
//!
//! After every change of replication roles the broker calls
//! [`GroupCoordinator::leadership_changed`]. A shard whose partition this broker now leads
//! becomes `Loading` at once (its requests answer COORDINATOR_LOAD_IN_PROGRESS) and a job
//! on the loader thread replays the partition's log, up to its end, into a fresh machine,
//! then makes it `Active`. A shard whose partition it no longer leads becomes
//! `NotCoordinator` at once (NOT_COORDINATOR) and a job drops its groups; parked
//! JoinGroup/SyncGroup responses then answer NOT_COORDINATOR, and its timers stop.
//!
//! Jobs carry the shard's generation at the time they were queued: a job that finds a newer
//! one does nothing, so quick flips (lead, lose, lead again) end in the last state whatever
//! order the jobs ran in. Lock order: a shard's machine, then its owner.

use super::{load_partition, timer, Coordinator, GroupCoordinator, OFFSETS_TOPIC};
use crate::api::now_ms;
use crate::broker::Broker;
use crate::metadata::MetadataImage;
use crate::partition::Partition;
use crate::replication::role::Role;
use kafka_protocol::error::ResponseError;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Weak};

/// What this broker is for one shard's `__consumer_offsets` partition.
#[derive(Default)]
pub(super) enum State {
    /// Not its leader (or not yet known to be): requests answer NOT_COORDINATOR.
    #[default]
    NotCoordinator,
    /// Its leader at `leader_epoch`, replaying the log.
    Loading { leader_epoch: i32 },
    /// Its leader at `leader_epoch`, serving the shard's groups and writing to `partition`.
    Active {
        leader_epoch: i32,
        partition: Arc<Partition>,
    },
}

/// A shard's ownership and the generation that orders its load and unload jobs.
#[derive(Default)]
pub(super) struct Owner {
    pub state: State,
    pub generation: u64,
}

impl Owner {
    /// The partition to write to and its leader epoch, when the shard is served here.
    pub fn serving(&self) -> Result<(Arc<Partition>, i32), ResponseError> {
        match &self.state {
            State::Active {
                leader_epoch,
                partition,
            } => Ok((partition.clone(), *leader_epoch)),
            State::Loading { .. } => Err(ResponseError::CoordinatorLoadInProgress),
            State::NotCoordinator => Err(ResponseError::NotCoordinator),
        }
    }

    fn epoch(&self) -> Option<i32> {
        match &self.state {
            State::Loading { leader_epoch } | State::Active { leader_epoch, .. } => {
                Some(*leader_epoch)
            }
            State::NotCoordinator => None,
        }
    }
}

/// A job for the loader thread.
pub(super) enum Job {
    Load {
        index: i32,
        generation: u64,
        partition: Arc<Partition>,
    },
    Unload {
        index: i32,
        generation: u64,
    },
}

/// The `__consumer_offsets` partition `index` and its leader epoch, when this broker leads
/// it: the image names it leader and the partition has taken that role (a sole replica, or
/// a leader at the image's epoch). A replicated partition still in its start-up role is not
/// led yet.
pub fn leading(
    broker: &Broker,
    image: &MetadataImage,
    index: i32,
) -> Option<(Arc<Partition>, i32)> {
    let t = image.topic(OFFSETS_TOPIC)?;
    let p = broker
        .partition(OFFSETS_TOPIC, index)
        .filter(|p| p.topic_id == t.id)?;
    let i = usize::try_from(index).ok()?;
    let l = t.leadership(i)?;
    if l.leader != broker.config.node_id {
        return None;
    }
    let replicas = t.replicas.get(i)?.len();
    let led = match &*p.role.lock() {
        Role::Sole => replicas <= 1,
        Role::Leader(lead) => lead.state.leader_epoch() == l.leader_epoch,
        Role::Follower(_) => false,
    };
    led.then_some((p, l.leader_epoch))
}

impl GroupCoordinator {
    /// Brings every shard's ownership in line with the partitions this broker leads in
    /// `image`. Cheap when nothing changed; the loading itself happens on the loader thread.
    pub fn leadership_changed(&self, broker: &Broker, image: &MetadataImage) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        for (index, shard) in self.shards.iter().enumerate() {
            let index = index as i32;
            let lead = leading(broker, image, index);
            let mut owner = shard.owner.lock();
            let job = match lead {
                Some((_, epoch)) if owner.epoch() == Some(epoch) => continue,
                None if owner.epoch().is_none() => continue,
                Some((partition, leader_epoch)) => {
                    owner.generation += 1;
                    owner.state = State::Loading { leader_epoch };
                    tracing::info!(
                        partition = index,
                        leader_epoch,
                        "became the coordinator of {OFFSETS_TOPIC} partition; loading it"
                    );
                    Job::Load {
                        index,
                        generation: owner.generation,
                        partition,
                    }
                }
                None => {
                    owner.generation += 1;
                    owner.state = State::NotCoordinator;
                    tracing::info!(
                        partition = index,
                        "no longer the coordinator of {OFFSETS_TOPIC} partition; unloading it"
                    );
                    Job::Unload {
                        index,
                        generation: owner.generation,
                    }
                }
            };
            drop(owner);
            if self.jobs.lock().send(job).is_err() {
                tracing::error!("the group loader thread is gone");
            }
        }
    }

    /// Runs one job (on the loader thread).
    pub(super) fn perform(&self, job: Job) {
        let (index, generation, partition) = match job {
            Job::Load {
                index,
                generation,
                partition,
            } => (index, generation, Some(partition)),
            Job::Unload { index, generation } => (index, generation, None),
        };
        let shard = self.shard(index);
        let mut machine = shard.machine.lock();
        if shard.owner.lock().generation != generation || self.stopped.load(Ordering::Acquire) {
            return;
        }
        // Whatever was here is dropped: parked responses see their sender go.
        *machine = Coordinator::new(self.group_config.clone());
        let started = std::time::Instant::now();
        let records = partition
            .as_ref()
            .map_or(0, |p| load_partition(&mut machine, p, now_ms()));
        machine.finish_load();
        let groups = machine.groups.len();
        let next = machine.next_deadline().unwrap_or(timer::NONE);
        let mut owner = shard.owner.lock();
        if owner.generation != generation {
            return;
        }
        let loading = match owner.state {
            State::Loading { leader_epoch } => Some(leader_epoch),
            _ => None,
        };
        if let (Some(partition), Some(leader_epoch)) = (partition, loading) {
            owner.state = State::Active {
                leader_epoch,
                partition,
            };
            tracing::info!(
                partition = index,
                leader_epoch,
                records,
                groups,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "{OFFSETS_TOPIC} partition loaded"
            );
        }
        drop(owner);
        drop(machine);
        shard.next_deadline.store(next, Ordering::SeqCst);
        self.wakeup.arm(next);
    }

    /// Drops every shard's partition (at shutdown, so the logs can close).
    pub(super) fn release_all(&self) {
        for shard in self.shards.iter() {
            let mut owner = shard.owner.lock();
            owner.generation += 1;
            owner.state = State::NotCoordinator;
        }
    }

    /// The partitions of the shards served here.
    pub(super) fn active_partitions(&self) -> Vec<Arc<Partition>> {
        self.shards
            .iter()
            .filter_map(|s| s.owner.lock().serving().ok().map(|(p, _)| p))
            .collect()
    }

    /// Whether a shard's groups are served here (ListGroups, DescribeGroups, metrics).
    pub(super) fn serves(&self, index: usize) -> bool {
        self.shards
            .get(index)
            .is_some_and(|s| s.owner.lock().serving().is_ok())
    }

    /// Whether some shard is still loading (ListGroups answers COORDINATOR_LOAD_IN_PROGRESS).
    pub fn loading(&self) -> bool {
        self.shards
            .iter()
            .any(|s| matches!(s.owner.lock().state, State::Loading { .. }))
    }
}

/// The loader thread: performs jobs in order until the coordinator goes.
pub(super) fn run_loader(coordinator: Weak<GroupCoordinator>, jobs: mpsc::Receiver<Job>) {
    while let Ok(job) = jobs.recv() {
        let Some(c) = coordinator.upgrade() else {
            return;
        };
        c.perform(job);
    }
}
