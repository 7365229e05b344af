//! What must hold after every step of the simulation.

use std::collections::BTreeMap;

/// (leader, leader epoch, partition epoch) by partition.
pub type Epochs = BTreeMap<Key, (i32, i32, i32)>;

use super::world::{Key, World, SESSION_TIMEOUT_MS};
use crate::*;

impl World {
    /// (leader, leader epoch, partition epoch) of every partition, to compare across a step.
    pub fn epochs(&self) -> Epochs {
        self.partitions
            .iter()
            .map(|(k, p)| (*k, (p.leader, p.leader_epoch, p.partition_epoch)))
            .collect()
    }

    /// Checks every invariant against the epochs before the step (`before`). Each single change
    /// is also checked as it is applied (`World::apply`).
    pub fn check(&self, before: &Epochs) -> Result<(), String> {
        let cluster = self.liveness.cluster_view();
        for (key, p) in &self.partitions {
            check_partition(&cluster, p, self.unclean_topics.contains(&key.0))
                .map_err(|e| format!("{key:?} {p:?}: {e}"))?;
            if let Some(&(leader, leader_epoch, partition_epoch)) = before.get(key) {
                if p.leader_epoch < leader_epoch || p.partition_epoch < partition_epoch {
                    return Err(format!("{key:?} {p:?}: an epoch went back"));
                }
                if p.leader != leader && p.leader_epoch == leader_epoch {
                    return Err(format!(
                        "{key:?} {p:?}: leader changed without an epoch bump"
                    ));
                }
            }
        }
        // A session that has expired is fenced once `tick` has run (every step runs it).
        for node in &self.nodes {
            let expired = node
                .last_contact_ms
                .is_some_and(|t| t + SESSION_TIMEOUT_MS < self.now);
            if expired && cluster.is_active(node.id) {
                return Err(format!(
                    "broker {} silent since {:?} but active",
                    node.id, node.last_contact_ms
                ));
            }
        }
        Ok(())
    }
}

fn check_partition(cluster: &ClusterView, p: &Partition, unclean: bool) -> Result<(), String> {
    // Replica lists are a handful long: quadratic beats allocating. Plain loops, because the
    // simulation runs thousands of seeds in the unoptimised test profile.
    let distinct = |v: &[i32]| {
        for i in 0..v.len() {
            for j in i + 1..v.len() {
                if v[i] == v[j] {
                    return false;
                }
            }
        }
        true
    };
    if p.replicas.is_empty() || !distinct(&p.replicas) {
        return Err("replicas empty or repeated".into());
    }
    if p.isr.is_empty() || !distinct(&p.isr) || !p.isr.iter().all(|r| p.replicas.contains(r)) {
        return Err("ISR empty, repeated or not a subset of the replicas".into());
    }
    let moving = p.adding_replicas.iter().chain(&p.removing_replicas);
    if !moving.clone().all(|r| p.replicas.contains(r))
        || p.adding_replicas
            .iter()
            .any(|r| p.removing_replicas.contains(r))
    {
        return Err("adding/removing replicas overlap or are not replicas".into());
    }
    if p.is_reassigning() && p.adding_replicas.iter().all(|r| p.isr.contains(r)) {
        // Only an ISR of nothing but removing replicas may hold a reassignment back.
        if p.isr.iter().any(|r| !p.removing_replicas.contains(r)) {
            return Err("a reassignment whose adding replicas are in sync did not complete".into());
        }
    }
    if p.has_leader() {
        if !p.isr.contains(&p.leader) {
            return Err("leader outside the ISR".into());
        }
        if !cluster.is_active(p.leader) {
            return Err("leader is fenced or shutting down".into());
        }
    }
    for &m in &p.isr {
        // An inactive member stays only as the last ISR member of an offline partition.
        if !cluster.is_active(m) && (p.isr.len() > 1 || p.has_leader()) {
            return Err(format!("inactive broker {m} kept in the ISR"));
        }
    }
    if !p.has_leader() {
        let eligible: &[i32] = if unclean { &p.replicas } else { &p.isr };
        if let Some(m) = eligible.iter().find(|&&m| cluster.is_active(m)) {
            return Err(format!("offline although broker {m} could lead"));
        }
    }
    Ok(())
}

/// One applied change: every change bumps the partition epoch, a leader change the leader
/// epoch, and nothing goes back.
pub fn check_epochs(old: &Partition, new: &Partition) -> Result<(), String> {
    if new.leader_epoch < old.leader_epoch || new.partition_epoch <= old.partition_epoch {
        return Err("an epoch went back or the partition epoch did not move".into());
    }
    if new.leader != old.leader && new.leader_epoch == old.leader_epoch {
        return Err("leader changed without a leader epoch bump".into());
    }
    if old.replicas.iter().any(|r| !new.replicas.contains(r))
        && new.leader_epoch == old.leader_epoch
    {
        return Err("a replica left without a leader epoch bump".into());
    }
    Ok(())
}
