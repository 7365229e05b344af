//! The metadata quorum on this node: openraft over the controller listener, the active
//! controller, broker registration and heartbeats, and applying metadata to local logs.
//!
//! A node without `controller.quorum.voters` is a one-voter quorum and needs no
//! controller listener. With voters, every voter starts with the same static membership
//! (so any of them may initialise it) and the first leader formats the cluster.

mod activity;
pub mod controller;
pub mod decide;
pub mod decisions;
mod dedup;
pub mod describe;
pub mod elect;
pub mod metrics;
pub mod network;
pub mod reconcile;
pub mod rpc;
mod server;
mod tasks;
pub mod voters;

use crate::config::BrokerConfig;
use controller::Controller;
use fjord_metadata::log_store::LogStore;
use fjord_metadata::raft::{raft_id, Raft};
use fjord_metadata::state_machine::{Applied, StateMachine};
use fjord_metadata::MetadataImage;
use network::{ClusterId, Network};
use openraft::BasicNode;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use server::serve;
pub use tasks::{spawn_controller, spawn_tasks};

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("cannot start the metadata quorum: {0}")]
    Start(String),
}

/// This node's handle on the quorum. Shared as `Arc<Quorum>`.
pub struct Quorum {
    pub controller: Arc<Controller>,
    pub applied: watch::Receiver<Applied>,
    pub cluster_id: ClusterId,
    /// Bytes in the metadata log since the last snapshot.
    pub log_size: Arc<AtomicU64>,
    /// Whether this node voted in no election and holds no entry: a new node.
    pub was_pristine: bool,
    /// When each peer last answered this node's Raft requests.
    activity: activity::Activity,
    /// Results of forwarded commands by request id, so retries run them once.
    dedup: dedup::Dedup,
}

impl Quorum {
    /// Starts openraft on the opened storage. A new node initialises the membership.
    pub async fn start(
        cfg: Arc<BrokerConfig>,
        log: LogStore,
        sm: StateMachine,
    ) -> Result<Quorum, QuorumError> {
        let was_pristine = log.is_pristine() && sm.image().cluster_id.is_none();
        let applied = sm.subscribe();
        let log_size = log.size();
        let election = cfg.election_timeout_ms.max(10);
        let raft_config = openraft::Config {
            cluster_name: "fjord-metadata".into(),
            heartbeat_interval: (election / 3).max(5),
            election_timeout_min: election,
            election_timeout_max: election * 2,
            // Snapshots are taken by size (metadata.log.max.record.bytes.between.snapshots).
            snapshot_policy: openraft::SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: 0,
            ..Default::default()
        };
        let raft_config = Arc::new(
            raft_config
                .validate()
                .map_err(|e| QuorumError::Start(e.to_string()))?,
        );
        let cluster_id = ClusterId::default();
        if let Some(id) = &sm.image().cluster_id {
            cluster_id.set(id.clone());
        }
        let activity = activity::Activity::default();
        let tls = match &cfg.security.controller_tls {
            Some(settings) => Some(Arc::new(
                crate::security::tls::TlsContext::new(settings.clone()).map_err(|e| {
                    QuorumError::Start(format!("the controller listener's TLS: {e}"))
                })?,
            )),
            None => None,
        };
        let network = Network {
            cluster_id: cluster_id.clone(),
            activity: activity.clone(),
            log: log.clone(),
            tls: tls.clone(),
        };
        let raft = Raft::new(raft_id(cfg.node_id), raft_config, network, log, sm)
            .await
            .map_err(|e| QuorumError::Start(e.to_string()))?;
        if was_pristine && cfg.joins_dynamic_quorum() {
            tracing::info!(
                bootstrap = %cfg.quorum_bootstrap_servers.join(","),
                "joining a dynamic metadata quorum: waiting for its leader to add this node (AddRaftVoter)"
            );
        } else if was_pristine {
            let members = voters(&cfg);
            match raft.initialize(members).await {
                Ok(()) => tracing::info!(
                    voters = cfg.voters.len().max(1),
                    "initialised the metadata quorum's membership"
                ),
                Err(e) => tracing::debug!(error = %e, "membership already initialised"),
            }
        }
        if cfg.is_single_node() {
            // Alone, there is nobody to wait for: elect now rather than after a timeout.
            let _ = raft.trigger().elect().await;
        }
        let controller = Arc::new(Controller::new(
            raft,
            cfg,
            applied.clone(),
            cluster_id.clone(),
            tls,
        ));
        Ok(Quorum {
            controller,
            applied,
            cluster_id,
            log_size,
            was_pristine,
            activity,
            dedup: dedup::Dedup::default(),
        })
    }

    pub fn raft(&self) -> &Raft {
        &self.controller.raft
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.applied.borrow().image.clone()
    }

    /// Waits (bounded by the request timeout) until this node applied entry `index`.
    pub async fn wait_applied(&self, index: u64) {
        let mut rx = self.applied.clone();
        let wait = rx.wait_for(|a| a.index >= index);
        let _ = tokio::time::timeout(self.controller.request_timeout(), wait).await;
    }

    /// Waits until the image names the cluster, logging while it does not.
    pub async fn wait_for_cluster_id(&self) -> String {
        let mut rx = self.applied.clone();
        loop {
            let wait = rx.wait_for(|a| a.image.cluster_id.is_some());
            match tokio::time::timeout(Duration::from_secs(5), wait).await {
                Ok(Ok(a)) => return a.image.cluster_id.clone().unwrap_or_default(),
                Ok(Err(_)) => return String::new(),
                Err(_) => tracing::info!(
                    leader = ?self.controller.leader(),
                    "waiting for the metadata quorum (a majority of controller.quorum.voters must be up)"
                ),
            }
        }
    }

    /// Stops openraft (on shutdown).
    pub async fn shutdown(&self) {
        let _ = self.raft().shutdown().await;
    }
}

/// The static membership: the configured voters, or this node alone.
fn voters(cfg: &BrokerConfig) -> BTreeMap<u64, BasicNode> {
    if cfg.voters.is_empty() {
        let addr = cfg
            .controller_listener
            .as_ref()
            .map(|l| crate::config::cluster::host_port(&l.host, l.port))
            .unwrap_or_default();
        return BTreeMap::from([(raft_id(cfg.node_id), BasicNode::new(addr))]);
    }
    cfg.voters
        .iter()
        .map(|v| (raft_id(v.id), BasicNode::new(v.addr())))
        .collect()
}

/// Binds the controller listener, if this node has one.
pub async fn bind(cfg: &BrokerConfig) -> std::io::Result<Option<TcpListener>> {
    match &cfg.controller_listener {
        Some(l) => Ok(Some(TcpListener::bind(l.bind_addr()).await?)),
        None => Ok(None),
    }
}
