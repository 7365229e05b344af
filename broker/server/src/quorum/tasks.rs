//! The quorum's background tasks on every node: the controller's duties while it
//! leads, this broker's heartbeats, applying metadata to local logs, and snapshots.

use super::controller::{Command, Controller};
use super::Quorum;
use crate::broker::Broker;
use crate::shutdown::Shutdown;
use fjord_metadata::BrokerEndpoint;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The controller's loop: formats a new cluster and fences quiet brokers while leading.
pub fn spawn_controller(controller: Arc<Controller>, mut shutdown: Shutdown) {
    tokio::spawn(async move {
        let every =
            Duration::from_millis((controller.cfg.broker_heartbeat_interval_ms / 4).clamp(20, 250));
        let mut was_leader = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.recv() => return,
            }
            controller.tick(&mut was_leader).await;
        }
    });
}

/// Starts this node's tasks: applying metadata and snapshots; on a broker also
/// heartbeats and replication (a controller-only node never registers as a broker).
pub fn spawn_tasks(broker: Arc<Broker>, shutdown: Shutdown) {
    if broker.config.roles.broker {
        tokio::spawn(heartbeats(broker.clone(), shutdown.clone()));
        crate::replication::manager::spawn(broker.clone(), shutdown.clone());
    }
    tokio::spawn(apply(broker.clone(), shutdown.clone()));
    tokio::spawn(snapshots(broker.quorum.clone(), shutdown));
}

/// What this broker tells the controller about itself.
pub fn heartbeat_command(broker: &Broker) -> Command {
    Command::Heartbeat {
        id: broker.config.node_id,
        incarnation: broker.incarnation,
        endpoints: vec![BrokerEndpoint {
            name: broker.config.listener_name.clone(),
            host: broker.advertised.host.clone(),
            port: broker.advertised.port,
        }],
        rack: broker.config.rack.clone(),
    }
}

async fn heartbeats(broker: Arc<Broker>, mut shutdown: Shutdown) {
    let every = Duration::from_millis(broker.config.broker_heartbeat_interval_ms);
    loop {
        if let Err(e) = broker
            .quorum
            .controller
            .submit(heartbeat_command(&broker))
            .await
        {
            tracing::debug!(error = %e.message, "heartbeat to the active controller failed");
        }
        // Registered or unfenced just now: heartbeat again soon to confirm, else wait.
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.recv() => return,
        }
    }
}

async fn apply(broker: Arc<Broker>, mut shutdown: Shutdown) {
    let mut rx = broker.quorum.applied.clone();
    loop {
        let image = rx.borrow_and_update().image.clone();
        // Opening, creating and removing partition logs (and meta.properties) is file I/O:
        // off the worker thread.
        crate::blocking::block_in_place(|| {
            if let Some(id) = &image.cluster_id {
                if broker.quorum.cluster_id.get().is_none() {
                    broker.quorum.cluster_id.set(id.clone());
                }
                broker.ensure_meta_properties(id);
            }
            broker.reconcile(&image)
        });
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            _ = shutdown.recv() => return,
        }
    }
}

async fn snapshots(quorum: Arc<Quorum>, mut shutdown: Shutdown) {
    let limit = quorum.controller.cfg.metadata_snapshot_bytes;
    let mut last_trigger: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.recv() => return,
        }
        let size = quorum.log_size.load(Ordering::Relaxed);
        let recently = last_trigger.is_some_and(|t| t.elapsed() < Duration::from_secs(2));
        if size > limit && !recently {
            tracing::info!(
                log_bytes = size,
                limit,
                "metadata log passed metadata.log.max.record.bytes.between.snapshots; snapshotting"
            );
            let _ = quorum.raft().trigger().snapshot().await;
            last_trigger = Some(Instant::now());
        }
    }
}
