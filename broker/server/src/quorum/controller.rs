//! The active controller: typed commands in, committed metadata records out.
//!
//! A command reaches the controller from this broker or, forwarded over the controller
//! listener, from any other. Only the Raft leader executes: one command at a time, it
//! confirms its leadership with a quorum round (so a leader cut off in a minority
//! refuses instead of proposing what might commit later), decides against an image
//! that includes everything committed, proposes the records, and answers after they
//! commit. The decision is a function of `(image, command)`: [`super::decide`].

use super::decide;
use super::network::{call_once, ClusterId};
use super::rpc::{Envelope, Request, Response};
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::topics::NewTopic;
use fjord_metadata::raft::{kafka_id, raft_id, Proposal, Raft};
use fjord_metadata::state_machine::Applied;
use fjord_metadata::{BrokerEndpoint, MetadataImage};
use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

/// One request to the active controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    CreateTopic {
        topic: NewTopic,
        id: Uuid,
        validate_only: bool,
    },
    DeleteTopic {
        id: Uuid,
    },
    CreatePartitions {
        name: String,
        total: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    },
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    /// Replaces the dynamic broker configs of one resource: the cluster-wide default
    /// (`broker: None`) or one broker's own.
    SetBrokerConfigs {
        broker: Option<i32>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    AllocateProducerIds {
        block: i64,
    },
    /// A broker is alive (registers it first, or again after a restart).
    Heartbeat {
        id: i32,
        incarnation: Uuid,
        endpoints: Vec<BrokerEndpoint>,
        rack: Option<String>,
    },
    /// The controller's own: a broker missed its session timeout.
    Fence {
        id: i32,
        epoch: i64,
    },
    /// The controller's own: the first leader of a new cluster names it.
    Format {
        cluster_id: String,
    },
    /// A broker about to stop asks for its leaderships to move to other in-sync replicas
    /// (Kafka's controlled shutdown).
    ControlledShutdown {
        id: i32,
        epoch: i64,
    },
    /// A partition leader asks to change its ISR (Kafka's AlterPartition, as a forwarded
    /// command), based on the epochs it has.
    AlterPartition {
        broker: i32,
        topic_id: Uuid,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        new_isr: Vec<i32>,
    },
    /// AlterPartitionReassignments for one partition: move it to `target` (`None`: cancel
    /// the ongoing reassignment).
    Reassign {
        topic: String,
        partition: i32,
        target: Option<Vec<i32>>,
    },
    /// ElectLeaders (API 43): PREFERRED (0) or UNCLEAN (1) elections for the named
    /// partitions, or for every partition when `partitions` is `None`.
    ElectLeaders {
        election_type: i8,
        partitions: Option<Vec<(String, i32)>>,
    },
    /// The controller's own (`auto.leader.rebalance.enable`): one round of preferred-leader
    /// elections where the preferred replica is active and in sync but does not lead.
    RebalanceLeaders,
    /// SCRAM credentials and ACLs (decided by `crate::security::commands`).
    Security(crate::security::commands::SecurityCommand),
}

impl Command {
    fn is_validate_only(&self) -> bool {
        matches!(
            self,
            Command::CreateTopic {
                validate_only: true,
                ..
            } | Command::CreatePartitions {
                validate_only: true,
                ..
            } | Command::SetTopicConfigs {
                validate_only: true,
                ..
            } | Command::SetBrokerConfigs {
                validate_only: true,
                ..
            }
        )
    }
}

/// What an executed command did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Done {
    /// The Raft index its records committed at (0: nothing proposed).
    pub index: u64,
    /// Replicas of a created topic or of added partitions.
    pub replicas: Vec<Vec<i32>>,
    /// First producer id of an allocated block.
    pub producer_id_start: i64,
    /// ACLs a DeleteAcls command removed.
    #[serde(default)]
    pub acls_deleted: Vec<fjord_metadata::security::AclBinding>,
    /// ElectLeaders' per-partition results.
    #[serde(default)]
    pub elections: Vec<super::elect::ElectionResult>,
    /// A rebalance round stopped at its bound: more partitions wait for their preferred leader.
    #[serde(default)]
    pub rebalance_incomplete: bool,
}

/// A refused command: a Kafka error code and a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    pub code: i16,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ResponseError, message: impl Into<String>) -> Refusal {
        Refusal {
            code: code.code(),
            message: message.into(),
        }
    }
}

pub type CommandResult = Result<Done, Refusal>;

pub struct Controller {
    pub raft: Raft,
    pub node_id: i32,
    pub cfg: Arc<BrokerConfig>,
    pub applied: watch::Receiver<Applied>,
    pub cluster_id: ClusterId,
    /// One decision at a time, so each sees the records of the one before.
    lock: tokio::sync::Mutex<()>,
    /// When each broker was last heard from, while this node leads.
    last_seen: parking_lot::Mutex<HashMap<i32, Instant>>,
    /// The broker on this node, once its logs are open (for partitions it will host).
    pub broker: OnceLock<Weak<Broker>>,
    /// The controller listener's TLS (mutual), when it uses SSL: for calls to peers and
    /// for accepting theirs.
    pub tls: super::network::PeerTls,
    /// When the next preferred-leader rebalance is due, while this node leads.
    next_rebalance: parking_lot::Mutex<Option<Instant>>,
}

impl Controller {
    pub fn new(
        raft: Raft,
        cfg: Arc<BrokerConfig>,
        applied: watch::Receiver<Applied>,
        cluster_id: ClusterId,
        tls: super::network::PeerTls,
    ) -> Controller {
        Controller {
            raft,
            node_id: cfg.node_id,
            cfg,
            applied,
            cluster_id,
            lock: tokio::sync::Mutex::new(()),
            last_seen: parking_lot::Mutex::new(HashMap::new()),
            broker: OnceLock::new(),
            tls,
            next_rebalance: parking_lot::Mutex::new(None),
        }
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.applied.borrow().image.clone()
    }

    /// The active controller's node id, if one is known.
    pub fn leader(&self) -> Option<i32> {
        self.raft.metrics().borrow().current_leader.map(kafka_id)
    }

    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.node_id)
    }

    /// How long a command may wait for a controller and a quorum.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.quorum_fetch_timeout_ms.saturating_mul(3).max(1000))
    }

    /// Runs `cmd` on the active controller, wherever it is, retrying while there is none
    /// or it moves, until the request timeout.
    pub async fn submit(&self, cmd: Command) -> CommandResult {
        let deadline = Instant::now() + self.request_timeout();
        // One id for every attempt, so the controller answers a retry with the first
        // attempt's result (see `dedup`).
        let request_id = Uuid::new_v4();
        let mut last = Refusal::new(
            ResponseError::NotController,
            "no active controller: the metadata quorum has no leader",
        );
        while Instant::now() < deadline {
            let leader = self.leader();
            let result = match leader {
                Some(l) if l == self.node_id => {
                    Some(super::dedup::execute_idempotent(self, cmd.clone()).await)
                }
                Some(l) => self.forward(l, request_id, &cmd, deadline).await,
                None => None,
            };
            match result {
                Some(Err(r)) if r.code == ResponseError::NotController.code() => last = r,
                Some(Err(r)) if r.code == ResponseError::RequestTimedOut.code() => return Err(r),
                Some(r) => return r,
                None => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last)
    }

    async fn forward(
        &self,
        leader: i32,
        request_id: Uuid,
        cmd: &Command,
        deadline: Instant,
    ) -> Option<CommandResult> {
        let addr = {
            let m = self.raft.metrics().borrow().membership_config.clone();
            m.membership().get_node(&raft_id(leader))?.addr.clone()
        };
        let envelope = Envelope {
            from: Some(self.node_id),
            cluster_id: self.cluster_id.get(),
            request: Request::Forwarded {
                request_id,
                command: cmd.clone(),
            },
        };
        // One attempt waits at most a quorum fetch timeout, and no longer than the
        // controller it went to stays the leader this node knows: a paused or cut-off old
        // controller holds the connection open without answering, and a broker whose
        // heartbeats wait on it would be fenced by the new controller meanwhile.
        let attempt = Duration::from_millis(self.cfg.quorum_fetch_timeout_ms.max(100));
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(attempt);
        let mut metrics = self.raft.metrics();
        let moved = async move {
            while metrics.changed().await.is_ok() {
                if metrics.borrow().current_leader != Some(raft_id(leader)) {
                    return;
                }
            }
            std::future::pending::<()>().await
        };
        let answer = tokio::select! {
            answer = call_once(&addr, &self.tls, &envelope, left) => answer,
            () = moved => {
                tracing::debug!(leader, "the active controller changed while a forwarded command waited; sending it again");
                return None;
            }
        };
        match answer {
            Ok(Response::Command(r)) => Some(r),
            Ok(other) => {
                tracing::debug!(?other, "unexpected answer to a forwarded command");
                None
            }
            Err(_) => None,
        }
    }

    /// Executes `cmd` if this node is the active controller.
    pub async fn execute(&self, cmd: Command) -> CommandResult {
        if !self.is_leader() {
            return Err(Refusal::new(
                ResponseError::NotController,
                "this node is not the active controller",
            ));
        }
        if let Command::Heartbeat { id, .. } = &cmd {
            self.last_seen.lock().insert(*id, Instant::now());
            let image = self.image();
            if decide::heartbeat(&image, &cmd).is_empty() {
                return Ok(Done::default());
            }
        }
        let _one_at_a_time = self.lock.lock().await;
        let timeout = self.request_timeout();
        match tokio::time::timeout(timeout, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(Refusal::new(ResponseError::NotController, format!("lost the metadata quorum's leadership: {e}")))
            }
            Err(_) => {
                return Err(Refusal::new(
                    ResponseError::RequestTimedOut,
                    format!("the active controller could not reach a quorum of voters within {timeout:?}; nothing was changed"),
                ))
            }
        }
        let image = self.image();
        let decision = decide::decide(&self.cfg, &image, &cmd)?;
        if cmd.is_validate_only() || decision.records.is_empty() {
            return Ok(decision.done);
        }
        let broker = self.broker.get().and_then(Weak::upgrade);
        // Creating the logs is file I/O: on the blocking pool, not this worker thread.
        let preopened = match (&broker, &decision.hosted) {
            (Some(b), Some(topic)) => {
                let (b, topic, first) = (b.clone(), topic.clone(), decision.first_new_partition);
                crate::blocking::spawn(move || b.preopen(&topic, first))
                    .await
                    .map_err(|e| Refusal::new(ResponseError::UnknownServerError, e.to_string()))?
                    .map_err(|e| Refusal::new(e.code, e.message))?
            }
            _ => Vec::new(),
        };
        let proposal = Proposal {
            records: decision.records,
        };
        let written = tokio::time::timeout(timeout, self.raft.client_write(proposal)).await;
        let index = match written {
            Ok(Ok(resp)) => resp.log_id.index,
            Ok(Err(e)) => {
                if let Some(b) = &broker {
                    crate::blocking::block_in_place(|| b.discard_preopened(preopened));
                }
                // Refused before it was appended (another leader), or Raft stopped: then
                // whether it commits is unknown, and the message says so.
                let message = match &e {
                    openraft::error::RaftError::APIError(_) => {
                        format!("the proposal was not committed: {e}")
                    }
                    openraft::error::RaftError::Fatal(_) => format!(
                        "the controller stopped before the proposal was known to commit ({e}); it may still be applied"
                    ),
                };
                return Err(Refusal::new(ResponseError::NotController, message));
            }
            Err(_) => {
                if let Some(b) = &broker {
                    crate::blocking::block_in_place(|| b.discard_preopened(preopened));
                }
                return Err(Refusal::new(
                    ResponseError::RequestTimedOut,
                    format!("the change was proposed but its commit was not confirmed within {timeout:?}; it may still be applied, so check before retrying"),
                ));
            }
        };
        if let Some(b) = &broker {
            crate::blocking::block_in_place(|| b.reconcile(&self.image()));
        }
        Ok(Done {
            index,
            ..decision.done
        })
    }

    /// The leader's periodic duties: name a new cluster, fence brokers that went quiet.
    pub async fn tick(&self, was_leader: &mut bool) {
        let leading = self.is_leader();
        if !leading {
            if *was_leader {
                self.last_seen.lock().clear();
                *self.next_rebalance.lock() = None;
            }
            *was_leader = false;
            return;
        }
        if !*was_leader {
            tracing::info!(
                node_id = self.node_id,
                "this node is now the active controller"
            );
        }
        *was_leader = true;
        let image = self.image();
        if image.cluster_id.is_none() {
            let cluster_id = crate::metadata::format::new_id();
            match self
                .execute(Command::Format {
                    cluster_id: cluster_id.clone(),
                })
                .await
            {
                Ok(_) => tracing::info!(%cluster_id, "formatted a new cluster"),
                Err(e) => {
                    tracing::debug!(error = %e.message, "formatting the cluster failed; retrying")
                }
            }
            return;
        }
        let session = Duration::from_millis(self.cfg.broker_session_timeout_ms);
        let now = Instant::now();
        let expired: Vec<(i32, i64, Duration)> = {
            let mut seen = self.last_seen.lock();
            image
                .live_brokers()
                .filter_map(|b| {
                    let last = *seen.entry(b.id).or_insert(now);
                    let quiet = now.saturating_duration_since(last);
                    super::decisions::session_expired(quiet, session)
                        .then_some((b.id, b.epoch, quiet))
                })
                .collect()
        };
        for (id, epoch, quiet) in expired {
            match self.execute(Command::Fence { id, epoch }).await {
                Ok(_) => tracing::info!(
                    broker = id,
                    epoch,
                    silent_ms = quiet.as_millis() as u64,
                    session_timeout_ms = session.as_millis() as u64,
                    "fenced broker: no heartbeat within broker.session.timeout.ms"
                ),
                Err(e) => {
                    tracing::warn!(broker = id, error = %e.message, "fencing a broker failed")
                }
            }
        }
        self.maybe_rebalance(now).await;
    }

    /// `auto.leader.rebalance.enable`: every `leader.imbalance.check.interval.seconds` (the
    /// first one an interval after this node became the active controller, as in Kafka), one
    /// round of preferred-leader elections; a round cut short by its bound is followed by
    /// another at once.
    async fn maybe_rebalance(&self, now: Instant) {
        if !self.cfg.auto_leader_rebalance {
            return;
        }
        let interval = Duration::from_secs(self.cfg.leader_imbalance_check_interval_s);
        let due = *self.next_rebalance.lock().get_or_insert(now + interval);
        if now < due {
            return;
        }
        // Nothing to move: no quorum round, no command (Kafka schedules the round only while
        // some partition is off its preferred leader).
        if super::elect::rebalance(&self.image()).0.is_empty() {
            *self.next_rebalance.lock() = Some(now + interval);
            return;
        }
        let next = match self.execute(Command::RebalanceLeaders).await {
            Ok(done) => {
                if done.index > 0 {
                    tracing::info!(
                        "auto.leader.rebalance.enable: moved leadership back to preferred replicas"
                    );
                }
                if done.rebalance_incomplete {
                    now
                } else {
                    now + interval
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "the preferred-leader rebalance failed");
                now + interval
            }
        };
        *self.next_rebalance.lock() = Some(next);
    }
}
