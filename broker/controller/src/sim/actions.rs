//! The random things that happen to the simulated cluster between pulses: process faults and
//! restarts, admin requests, and AlterPartition from partition leaders.

use super::world::{Key, Proc, World};
use crate::*;

const MAX_PARTITIONS: usize = 40;

impl World {
    /// One random action.
    pub fn act(&mut self) -> Result<(), String> {
        match self.rng.below(100) {
            0..=5 => self.set_proc(&[Proc::Running], Proc::Paused),
            6..=13 => self.set_proc(&[Proc::Paused], Proc::Running),
            14..=17 => self.set_proc(
                &[Proc::Running, Proc::Paused, Proc::ShuttingDown],
                Proc::Dead,
            ),
            18..=25 => self.restart(),
            26..=29 => self.set_proc(&[Proc::Running], Proc::ShuttingDown),
            30..=41 => self.create_topic(),
            42..=45 => self.add_partitions(),
            46..=79 => self.alter_isr(),
            80..=87 => self.elect(),
            88..=89 => self.unregister_dead(),
            90..=91 => self.rebalance(),
            92 => self.fail_over(),
            93 => self.allow_unclean_election(),
            94..=98 => self.reassign(),
            _ => Ok(()),
        }
    }

    fn set_proc(&mut self, from: &[Proc], to: Proc) -> Result<(), String> {
        let ids: Vec<i32> = self
            .nodes
            .iter()
            .filter(|n| from.contains(&n.proc))
            .map(|n| n.id)
            .collect();
        if let Some(&id) = self.rng.pick(&ids) {
            self.note(|| format!("broker {id} -> {to:?}"));
            let node = self.node_mut(id);
            node.proc = to;
            if to == Proc::Dead {
                node.epoch = None;
            }
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<(), String> {
        let ids: Vec<i32> = self
            .nodes
            .iter()
            .filter(|n| matches!(n.proc, Proc::Dead | Proc::Stopped))
            .map(|n| n.id)
            .collect();
        if let Some(&id) = self.rng.pick(&ids) {
            self.note(|| format!("broker {id} restarts"));
            let node = self.node_mut(id);
            node.proc = Proc::Running;
            node.incarnation += 1;
            node.epoch = None;
        }
        Ok(())
    }

    fn unregister_dead(&mut self) -> Result<(), String> {
        let cluster = self.liveness.cluster_view();
        let ids: Vec<i32> = self
            .nodes
            .iter()
            .filter(|n| n.proc == Proc::Dead && cluster.get(n.id).is_some_and(|b| b.fenced))
            .map(|n| n.id)
            .collect();
        if let Some(&id) = self.rng.pick(&ids) {
            let events = self.liveness.unregister(id).map_err(|e| e.to_string())?;
            self.handle(events)?;
        }
        Ok(())
    }

    fn create_topic(&mut self) -> Result<(), String> {
        // Enough partitions to exercise every rule; more only slows the seeds down.
        if self.partitions.len() >= MAX_PARTITIONS {
            return Ok(());
        }
        let cluster = self.liveness.cluster_view();
        let topic = self.next_topic;
        let rf = self.rng.range(1, 4) as i16;
        let partitions = self.rng.range(1, 4) as i32;
        let new = NewTopic {
            num_partitions: partitions,
            replication_factor: rf,
            assignments: Vec::new(),
        };
        let defaults = TopicDefaults {
            num_partitions: 1,
            replication_factor: 1,
        };
        let load = Load::from_assignments(self.partitions.values().map(|p| &p.replicas));
        let seed = self.rng.next_u64();
        match create_topic(&cluster, &new, &defaults, seed, &load) {
            Ok(parts) => {
                self.next_topic += 1;
                if self.rng.chance(20) {
                    self.unclean_topics.insert(topic);
                }
                self.note(|| format!("topic {topic} rf {rf}: {parts:?}"));
                for (i, p) in parts.into_iter().enumerate() {
                    check_placement(&cluster, &p, usize::from(rf.unsigned_abs()))?;
                    self.partitions.insert((topic, i as i32), p);
                    self.offset += 1;
                }
                Ok(())
            }
            Err(e) => {
                self.count("CreateTopics refused");
                let active = cluster.brokers().any(|b| b.is_active());
                let legit =
                    e.code() == 38 && (usize::from(rf.unsigned_abs()) > cluster.len() || !active);
                if legit {
                    Ok(())
                } else {
                    Err(format!("create topic rf {rf} refused: {e}"))
                }
            }
        }
    }

    fn add_partitions(&mut self) -> Result<(), String> {
        if self.partitions.len() >= MAX_PARTITIONS {
            return Ok(());
        }
        let Some(topic) = self.partitions.keys().map(|k| k.0).max() else {
            return Ok(());
        };
        let topic = self.rng.below(u64::from(topic) + 1) as u32;
        let existing: Vec<Vec<i32>> = self
            .partitions
            .range((topic, 0)..=(topic, i32::MAX))
            .map(|(_, p)| p.replicas.clone())
            .collect();
        let cluster = self.liveness.cluster_view();
        let load = Load::from_assignments(self.partitions.values().map(|p| &p.replicas));
        let count = existing.len() as i32 + self.rng.range(1, 2) as i32;
        let seed = self.rng.next_u64();
        let rf = existing.first().map_or(0, Vec::len);
        match create_partitions(&cluster, "t", &existing, count, None, seed, &load) {
            Ok(parts) => {
                for (i, p) in parts.into_iter().enumerate() {
                    check_placement(&cluster, &p, rf)?;
                    self.partitions
                        .insert((topic, (existing.len() + i) as i32), p);
                    self.offset += 1;
                }
                Ok(())
            }
            Err(e) if e.code() == 38 => Ok(()),
            Err(e) => Err(format!("create partitions refused: {e}")),
        }
    }

    /// The leader of a random partition shrinks or expands its ISR, sometimes with stale epochs
    /// or an ineligible replica.
    fn alter_isr(&mut self) -> Result<(), String> {
        let keys: Vec<Key> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.has_leader())
            .map(|(k, _)| *k)
            .collect();
        let Some(&key) = self.rng.pick(&keys) else {
            return Ok(());
        };
        let p = self.partitions[&key].clone();
        let cluster = self.liveness.cluster_view();
        let mut isr = p.isr.clone();
        let outside: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !isr.contains(r))
            .collect();
        let followers: Vec<i32> = isr.iter().copied().filter(|&r| r != p.leader).collect();
        if self.rng.chance(50) {
            if let Some(&r) = self.rng.pick(&outside) {
                isr.push(r);
            }
        } else if let Some(&r) = self.rng.pick(&followers) {
            isr.retain(|&m| m != r);
        }
        let stale = self.rng.chance(10) && p.partition_epoch > 0;
        let request = AlterPartitionRequest {
            broker_id: p.leader,
            version: 3,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch - i32::from(stale),
            new_isr: isr
                .iter()
                .map(|&b| IsrMember {
                    broker_id: b,
                    broker_epoch: cluster.get(b).map_or(-1, |i| i.epoch),
                })
                .collect(),
            // A recovering leader that adds a follower has recovered (KIP-704).
            leader_recovery_state: if isr.len() > 1 {
                LeaderRecoveryState::Recovered.value()
            } else {
                p.leader_recovery_state.value()
            },
        };
        let eligible = isr.iter().all(|&b| cluster.is_active(b));
        match alter_partition(
            Some(&p),
            &cluster,
            &request,
            self.unclean_topics.contains(&key.0),
        ) {
            Ok(AlterPartitionOutcome::Accepted { change, partition }) => {
                self.count("AlterPartition accepted");
                if stale || !eligible {
                    return Err(format!(
                        "accepted a bad AlterPartition {request:?} for {p:?}"
                    ));
                }
                if let Some(change) = change {
                    self.apply(key, &change, false)?;
                }
                if self.partitions[&key] != partition {
                    return Err(format!("AlterPartition answered {partition:?}"));
                }
                Ok(())
            }
            // The expansion that completes a reassignment moves the leadership off a
            // leader that is being removed (Kafka answers NEW_LEADER_ELECTED).
            Ok(AlterPartitionOutcome::LeaderChanged { change, .. })
                if p.removing_replicas.contains(&p.leader)
                    && change
                        .replicas
                        .as_ref()
                        .is_some_and(|r| !r.contains(&p.leader)) =>
            {
                self.count("reassignment completed by AlterPartition");
                self.apply(key, &change, false)
            }
            Ok(other) => Err(format!(
                "leader changed by its own AlterPartition: {other:?}"
            )),
            Err(e) if stale && e.code() == 95 => {
                self.count("AlterPartition stale");
                Ok(())
            }
            Err(e) if !stale && !eligible && e.code() == 107 => {
                self.count("AlterPartition ineligible");
                Ok(())
            }
            Err(e) => Err(format!("AlterPartition {request:?} on {p:?} refused: {e}")),
        }
    }

    /// AlterPartitionReassignments on a random partition: a random target of registered
    /// brokers (sometimes a repeated or unknown one), or a cancellation.
    fn reassign(&mut self) -> Result<(), String> {
        let keys: Vec<Key> = self.partitions.keys().copied().collect();
        let Some(&key) = self.rng.pick(&keys) else {
            return Ok(());
        };
        let p = self.partitions[&key].clone();
        let cluster = self.liveness.cluster_view();
        let target = (!self.rng.chance(25)).then(|| {
            let mut pool: Vec<i32> = self.nodes.iter().map(|n| n.id).collect();
            let mut target = Vec::new();
            let size = 1 + self.rng.below(3) as usize;
            while target.len() < size && !pool.is_empty() {
                let i = self.rng.below(pool.len() as u64) as usize;
                target.push(pool.swap_remove(i));
            }
            if self.rng.chance(5) {
                target.push(target[0]);
            }
            target
        });
        let bad = target.as_ref().is_some_and(|t| {
            t.iter().any(|b| !cluster.is_registered(*b))
                || t.iter().filter(|b| **b == t[0]).count() > 1
        });
        let unclean = self.unclean_topics.contains(&key.0);
        match alter_reassignment(Some(&p), &cluster, target.as_deref(), unclean) {
            Ok(change) => {
                if bad {
                    return Err(format!(
                        "accepted a bad reassignment to {target:?} of {p:?}"
                    ));
                }
                self.count(if target.is_some() {
                    "reassignment"
                } else {
                    "reassignment cancelled"
                });
                self.note(|| format!("reassign {key:?} to {target:?}"));
                if let Some(change) = change {
                    // Only a revert whose ISR held nothing but adding replicas elects from
                    // outside the ISR (Kafka's unclean revert).
                    let from_outside =
                        target.is_none() && p.isr.iter().all(|r| p.adding_replicas.contains(r));
                    self.apply(key, &change, unclean || from_outside)?;
                }
                Ok(())
            }
            Err(e) if bad && e.code() == 39 => Ok(()),
            Err(e) if target.is_none() && !p.is_reassigning() && e.code() == 85 => Ok(()),
            Err(e) => Err(format!("reassignment to {target:?} of {p:?} refused: {e}")),
        }
    }

    fn elect(&mut self) -> Result<(), String> {
        let keys: Vec<Key> = self.partitions.keys().copied().collect();
        let Some(&key) = self.rng.pick(&keys) else {
            return Ok(());
        };
        let kind = if self.rng.chance(20) {
            ElectionType::Unclean
        } else {
            ElectionType::Preferred
        };
        let cluster = self.liveness.cluster_view();
        let p = self.partitions[&key].clone();
        match elect_leaders(&p, &cluster, kind) {
            Ok(change) => {
                self.count("ElectLeaders changed a leader");
                let unclean = kind == ElectionType::Unclean || self.unclean_topics.contains(&key.0);
                self.apply(key, &change, unclean)
            }
            Err(e) if [80, 83, 84].contains(&e.code()) => Ok(()),
            Err(e) => Err(format!("ElectLeaders {kind:?} on {p:?}: {e}")),
        }
    }
}

impl World {
    /// A new active controller takes over: it rebuilds liveness from the registrations in its
    /// image, and every registered broker gets a fresh session from now.
    fn fail_over(&mut self) -> Result<(), String> {
        let image: Vec<BrokerRegistration> = self.liveness.registrations().cloned().collect();
        self.count("controller failover");
        self.note(|| "controller failover".to_string());
        self.liveness = Liveness::from_image(
            LivenessConfig {
                session_timeout_ms: super::world::SESSION_TIMEOUT_MS,
            },
            image,
            self.now,
        );
        let now = self.now;
        for node in &mut self.nodes {
            if self.liveness.registration(node.id).is_some() {
                node.last_contact_ms = Some(now);
            }
        }
        Ok(())
    }

    /// An admin sets `unclean.leader.election.enable=true` on a topic; the controller runs its
    /// unclean elections at once.
    fn allow_unclean_election(&mut self) -> Result<(), String> {
        let Some(last) = self.partitions.keys().map(|k| k.0).max() else {
            return Ok(());
        };
        let topic = self.rng.below(u64::from(last) + 1) as u32;
        self.unclean_topics.insert(topic);
        self.note(|| format!("topic {topic} allows unclean election"));
        let cluster = self.liveness.cluster_view();
        let parts = self.partitions.iter().map(|(k, p)| (*k, p));
        let (changes, _) =
            election::elect_unclean_leaders(&cluster, parts, |k| k.0 == topic, 1_000);
        for (key, change) in changes {
            self.count("unclean election after a config change");
            self.apply(key, &change, true)?;
        }
        Ok(())
    }

    fn rebalance(&mut self) -> Result<(), String> {
        let cluster = self.liveness.cluster_view();
        let parts = self.partitions.iter().map(|(k, p)| (*k, p));
        let (changes, _) = election::rebalance(&cluster, parts, 3);
        for (key, change) in changes {
            self.count("rebalance moved a leader");
            self.apply(key, &change, false)?;
        }
        Ok(())
    }
}

/// A placed partition: distinct replicas, as many as asked, led by an active broker, spread
/// over as many racks as the factor and the registered racks allow.
fn check_placement(cluster: &ClusterView, p: &Partition, rf: usize) -> Result<(), String> {
    let mut distinct = p.replicas.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != p.replicas.len() || p.replicas.len() != rf {
        return Err(format!("bad placement {p:?} for rf {rf}"));
    }
    if !cluster.is_active(p.leader) {
        return Err(format!("new partition led by inactive broker: {p:?}"));
    }
    let mut racks: Vec<Option<&str>> = cluster.brokers().map(|b| b.rack.as_deref()).collect();
    racks.sort_unstable();
    racks.dedup();
    let mut used: Vec<Option<&str>> = p.replicas.iter().map(|&b| cluster.rack(b)).collect();
    used.sort_unstable();
    used.dedup();
    if used.len() != rf.min(racks.len()) {
        return Err(format!(
            "replicas {:?} on racks {used:?} of {racks:?}",
            p.replicas
        ));
    }
    Ok(())
}
