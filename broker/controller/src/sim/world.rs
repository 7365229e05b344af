//! The simulated cluster: broker processes (running, paused, dead, shutting down), a metadata
//! log reduced to its offset, the partitions, and the controller's state machines driven the way
//! the broker's controller role will drive them.

use std::collections::{BTreeMap, BTreeSet};

use super::rng::Rng;
use crate::*;

pub const SESSION_TIMEOUT_MS: u64 = 9_000;
pub const HEARTBEAT_INTERVAL_MS: u64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    Running,
    /// SIGSTOP: alive, silent.
    Paused,
    /// kill -9.
    Dead,
    /// Heartbeating with `want_shutdown`.
    ShuttingDown,
    /// Stopped after the controller said so.
    Stopped,
}

#[derive(Debug)]
pub struct Node {
    pub id: i32,
    pub rack: Option<String>,
    pub proc: Proc,
    pub incarnation: u128,
    /// The epoch of its registration, once registered.
    pub epoch: Option<i64>,
    pub next_heartbeat_ms: u64,
    /// When the controller last accepted a registration or heartbeat from this process.
    pub last_contact_ms: Option<u64>,
}

/// (topic, partition).
pub type Key = (u32, i32);

pub struct World {
    pub rng: Rng,
    pub now: u64,
    /// The next metadata offset.
    pub offset: i64,
    pub liveness: Liveness,
    pub nodes: Vec<Node>,
    pub partitions: BTreeMap<Key, Partition>,
    pub unclean_topics: BTreeSet<u32>,
    pub next_topic: u32,
    /// The last actions, kept only when replaying a failing seed (formatting every step would
    /// make the thousands of seeds slow).
    pub trace: Option<Vec<String>>,
    /// How often each interesting thing happened, so a test can tell the simulation still
    /// exercises every rule.
    pub stats: BTreeMap<&'static str, u64>,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let brokers = rng.range(1, 6) as i32;
        let racks = rng.range(1, 3) as i32;
        let nodes = (1..=brokers)
            .map(|id| Node {
                id,
                rack: (racks > 1).then(|| format!("r{}", id % racks)),
                proc: Proc::Running,
                incarnation: 1,
                epoch: None,
                next_heartbeat_ms: 0,
                last_contact_ms: None,
            })
            .collect();
        let config = LivenessConfig {
            session_timeout_ms: SESSION_TIMEOUT_MS,
        };
        Self {
            rng,
            now: 0,
            offset: 0,
            liveness: Liveness::new(config),
            nodes,
            partitions: BTreeMap::new(),
            unclean_topics: BTreeSet::new(),
            next_topic: 0,
            trace: None,
            stats: BTreeMap::new(),
        }
    }

    /// Records an action in the trace, if tracing; `what` is only formatted then.
    pub fn note(&mut self, what: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            if trace.len() >= 60 {
                trace.remove(0);
            }
            trace.push(format!("t={} off={} {}", self.now, self.offset, what()));
        }
    }

    pub fn count(&mut self, what: &'static str) {
        *self.stats.entry(what).or_default() += 1;
    }

    pub fn node_mut(&mut self, id: i32) -> &mut Node {
        // Ids are 1..=len, assigned in `new`.
        let i = usize::try_from(id - 1).unwrap_or(0);
        &mut self.nodes[i]
    }

    pub fn leads_any(&self, broker: i32) -> bool {
        self.partitions.values().any(|p| p.leader == broker)
    }

    /// Applies one partition change; `unclean` allows a leader from outside the ISR.
    pub fn apply(
        &mut self,
        key: Key,
        change: &PartitionChange,
        unclean: bool,
    ) -> Result<(), String> {
        let Some(p) = self.partitions.get(&key) else {
            return Err(format!("change to unknown partition {key:?}"));
        };
        if change.is_empty() {
            return Err(format!("empty change proposed for {key:?}"));
        }
        if let Some(leader) = change.leader {
            // An AlterPartition that completes a reassignment elects from the ISR it sets.
            let in_new_isr = change.isr.as_ref().is_some_and(|i| i.contains(&leader));
            if leader != NO_LEADER && !unclean && !p.isr.contains(&leader) && !in_new_isr {
                return Err(format!(
                    "clean election of {leader} from outside the last ISR {:?} of {key:?}",
                    p.isr
                ));
            }
        }
        let next = p.apply(change);
        let what = match change.leader {
            Some(NO_LEADER) => Some("partition taken offline"),
            Some(_) if change.leader_recovery_state == Some(LeaderRecoveryState::Recovering) => {
                Some("unclean election")
            }
            Some(l) if p.leader == NO_LEADER && p.isr.contains(&l) => Some("last ISR member back"),
            Some(_) => Some("leadership moved"),
            None => None,
        };
        super::invariants::check_epochs(p, &next)
            .map_err(|e| format!("{key:?} {p:?} -> {next:?}: {e}"))?;
        let finished = p.is_reassigning() && !next.is_reassigning() && next.replicas != p.replicas;

        if self.trace.is_some() {
            let old = p.clone();
            self.note(|| format!("{key:?}: {old:?} -> {change:?}"));
        }
        self.partitions.insert(key, next);
        if let Some(what) = what {
            self.count(what);
        }
        if finished {
            self.count("reassignment finished");
        }
        self.offset += 1;
        Ok(())
    }

    /// Records the events' records and the partition changes that follow them.
    pub fn handle(&mut self, events: Vec<LivenessEvent>) -> Result<(), String> {
        for event in events {
            self.note(|| format!("event {event:?}"));
            self.count(match &event {
                LivenessEvent::Registered(_) => "registered",
                LivenessEvent::Fenced { reason, .. } => match reason {
                    FenceReason::SessionExpired => "fenced: session expired",
                    FenceReason::Requested => "fenced: requested",
                    FenceReason::ShutdownNow => "fenced: shutdown now",
                    FenceReason::Reregistered => "fenced: re-registered",
                },
                LivenessEvent::Unfenced { .. } => "unfenced",
                LivenessEvent::ControlledShutdown { .. } => "controlled shutdown",
                LivenessEvent::Unregistered { .. } => "unregistered",
            });
            if let LivenessEvent::Fenced {
                broker_id,
                reason: FenceReason::SessionExpired,
                ..
            } = event
            {
                let now = self.now;
                let node = self.node_mut(broker_id);
                let recent = node
                    .last_contact_ms
                    .is_some_and(|t| t + SESSION_TIMEOUT_MS >= now);
                if recent && matches!(node.proc, Proc::Running | Proc::ShuttingDown) {
                    return Err(format!("broker {broker_id} fenced while heartbeating"));
                }
            }
            self.offset += 1;
            let cluster = self.liveness.cluster_view();
            let unclean_topics = self.unclean_topics.clone();
            let unclean = |k: &Key| unclean_topics.contains(&k.0);
            let parts = self.partitions.iter().map(|(k, p)| (*k, p));
            let changes = partition_changes(&event, &cluster, parts, unclean);
            for (key, change) in changes {
                self.apply(key, &change, unclean(&key))?;
            }
            if let LivenessEvent::ControlledShutdown { broker_id, .. } = event {
                self.liveness
                    .note_shutdown_offset(broker_id, self.offset - 1);
            }
        }
        Ok(())
    }

    /// Registers or heartbeats every live process that is due, then expires sessions.
    pub fn pulse(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            let due = node.next_heartbeat_ms <= self.now;
            if !due || !matches!(node.proc, Proc::Running | Proc::ShuttingDown) {
                continue;
            }
            match node.epoch {
                None => self.register(i)?,
                Some(epoch) => self.heartbeat(i, epoch)?,
            }
            self.nodes[i].next_heartbeat_ms = self.now + HEARTBEAT_INTERVAL_MS;
        }
        let events = self.liveness.tick(self.now);
        self.handle(events)
    }

    fn register(&mut self, i: usize) -> Result<(), String> {
        let node = &self.nodes[i];
        let registration = Registration {
            broker_id: node.id,
            incarnation_id: node.incarnation,
            rack: node.rack.clone(),
            listeners: Vec::new(),
        };
        match self.liveness.register(self.now, registration, self.offset) {
            Ok((epoch, events)) => {
                let now = self.now;
                let node = &mut self.nodes[i];
                node.epoch = Some(epoch);
                node.last_contact_ms = Some(now);
                self.handle(events)
            }
            // The previous incarnation's session is still valid: retry later, as a broker does.
            Err(e) if e.code() == 101 => {
                self.count("duplicate registration refused");
                Ok(())
            }
            Err(e) => Err(format!("registration of {} failed: {e}", node.id)),
        }
    }

    fn heartbeat(&mut self, i: usize, epoch: i64) -> Result<(), String> {
        let node = &self.nodes[i];
        let id = node.id;
        let lag = self.rng.below(3) as i64;
        let hb = Heartbeat {
            broker_id: id,
            broker_epoch: epoch,
            current_metadata_offset: (self.offset - lag).max(0),
            want_fence: false,
            want_shutdown: node.proc == Proc::ShuttingDown,
        };
        let has_leaderships = self.leads_any(id);
        match self.liveness.heartbeat(self.now, &hb, has_leaderships) {
            Ok((reply, events)) => {
                self.nodes[i].last_contact_ms = Some(self.now);
                self.handle(events)?;
                let caught_up = hb.current_metadata_offset >= epoch;
                if self.nodes[i].proc == Proc::Running && caught_up && reply.is_fenced {
                    return Err(format!("caught-up broker {id} left fenced: {reply:?}"));
                }
                if reply.should_shut_down {
                    if self.leads_any(id) {
                        return Err(format!("broker {id} told to shut down while leading"));
                    }
                    self.note(|| format!("broker {id} stops"));
                    let node = &mut self.nodes[i];
                    node.proc = Proc::Stopped;
                    node.epoch = None;
                }
                Ok(())
            }
            // Our registration was replaced or removed: register again.
            Err(e) if e.code() == 77 => {
                self.nodes[i].epoch = None;
                Ok(())
            }
            Err(e) => Err(format!("heartbeat from {id} failed: {e}")),
        }
    }
}
