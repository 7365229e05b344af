//! Becoming leader or follower as the metadata image says (Kafka's `ReplicaManager.
//! applyDelta`): run after every reconcile, for every open partition.
//!
//! A follower cuts its log where it diverges from the new leader's before its first fetch
//! from it (OffsetForLeaderEpoch, KIP-101/279, see [`super::fetcher`]), then fetches the rest:
//! a former leader's divergent tail is dropped that way, and nothing the leader has is. A new
//! leader records its epoch's start offset in the leader-epoch cache at once, as Kafka's
//! `makeLeader` does, so the previous epoch's end is known before its first append.

use super::role::{Following, Leading, Role};
use crate::broker::Broker;
use crate::metadata::MetadataImage;
use crate::partition::Partition;
use crate::topic_config;
use fjord_replication::{LeaderConfig, LeaderState};
use std::sync::Arc;

impl Broker {
    /// Brings every open partition's role in line with `image`.
    pub fn apply_roles(&self, image: &MetadataImage) {
        let mut changed = false;
        for p in self.all_partitions() {
            changed |= self.apply_role(image, &p);
        }
        if changed {
            self.replication.changed.notify_one();
        }
        // The group coordinator serves the `__consumer_offsets` partitions led here.
        self.groups.leadership_changed(self, image);
    }

    /// One partition's role; true when it changed (fetchers may need starting).
    pub(crate) fn apply_role(&self, image: &MetadataImage, p: &Arc<Partition>) -> bool {
        let Some(t) = image.topic(&p.topic).filter(|t| t.id == p.topic_id) else {
            return false;
        };
        let i = p.index as usize;
        let (Some(replicas), Some(l)) = (t.replicas.get(i), t.leadership(i)) else {
            return false;
        };
        let me = self.config.node_id;
        let min_isr = topic_config::min_insync_replicas(&self.config, &t.configs).max(1) as usize;
        let now = super::manager::now_ms();
        let mut role = p.role.lock();
        if replicas.len() <= 1 && l.leader == me {
            if !matches!(*role, Role::Sole) {
                *role = Role::Sole;
                return true;
            }
            return false;
        }
        if l.leader == me {
            if let Role::Leader(lead) = &mut *role {
                if lead.state.leader_epoch() == l.leader_epoch {
                    lead.min_insync_replicas = min_isr;
                    lead.state.replicas_changed(replicas);
                    let effects = lead.state.isr_committed(t.isr(i), l.partition_epoch);
                    let (advanced, _) = lead.perform(effects);
                    // An ISR change also decides waiters the high watermark had passed.
                    let hw = lead.state.high_watermark();
                    lead.complete(hw);
                    drop(role);
                    if advanced {
                        p.wake_waiters();
                    }
                    return false;
                }
            }
            let leo = p.log.log_end_offset();
            if let Err(e) = p.log.assign_epoch(l.leader_epoch, leo) {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "cannot record the new leader epoch");
            }
            let hw = self.known_high_watermark(p, &role, replicas.len());
            let config = LeaderConfig {
                replica_lag_time_max_ms: self.config.replica_lag_time_max_ms,
            };
            let state = LeaderState::new(
                config,
                me,
                l.leader_epoch,
                l.partition_epoch,
                replicas,
                t.isr(i),
                leo,
                hw,
                now,
            );
            tracing::info!(topic = %p.topic, partition = p.index, leader_epoch = l.leader_epoch, isr = ?t.isr(i), "became leader");
            *role = Role::Leader(Box::new(Leading::new(state, min_isr)));
            drop(role);
            p.wake_waiters();
            return true;
        }
        if let Role::Follower(f) = &*role {
            if f.leader == l.leader && f.leader_epoch == l.leader_epoch {
                return false;
            }
        }
        let hw = self.known_high_watermark(p, &role, replicas.len());
        if l.leader < 0 {
            // No leader (its replicas are all fenced): keep everything and wait; what to
            // drop is decided against the next leader.
            *role = Role::Follower(Following {
                leader: l.leader,
                leader_epoch: l.leader_epoch,
                high_watermark: hw,
                truncated: false,
            });
            return true;
        }
        *role = Role::Follower(Following {
            leader: l.leader,
            leader_epoch: l.leader_epoch,
            high_watermark: hw,
            truncated: false,
        });
        tracing::info!(topic = %p.topic, partition = p.index, leader = l.leader, leader_epoch = l.leader_epoch, "became follower");
        true
    }

    /// The high watermark a partition had in its previous role, or the checkpointed one for
    /// a partition taking its first role since start. A single replica's whole log is
    /// committed.
    fn known_high_watermark(&self, p: &Partition, role: &Role, replicas: usize) -> i64 {
        let leo = p.log.log_end_offset();
        match role {
            Role::Leader(l) => l.state.high_watermark(),
            Role::Follower(f) => f.high_watermark.min(leo),
            Role::Sole if replicas <= 1 => leo,
            Role::Sole => self
                .replication
                .checkpointed_hw(&self.config.log_dir, &p.topic, p.index)
                .unwrap_or(0)
                .min(leo),
        }
    }
}
