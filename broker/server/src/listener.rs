//! The accept loop: owns the connection limit and the shutdown signal.
//!
//! A connection's error is logged in its own task and never ends the accept loop.

use crate::broker::Broker;
use crate::connection::{Connection, ConnectionError};
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub struct Listener {
    pub listener: TcpListener,
    pub broker: Arc<Broker>,
    pub limit: Arc<Semaphore>,
}

impl Listener {
    /// Accepts until shutdown, then waits for open connections to finish their
    /// in-flight request (bounded by `drain`).
    pub async fn run(self, mut shutdown: Shutdown, drain: Duration) {
        let max = self.limit.available_permits();
        loop {
            let permit = tokio::select! {
                p = self.limit.clone().acquire_owned() => p,
                _ = shutdown.recv() => break,
            };
            let Ok(permit) = permit else { break };
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = shutdown.recv() => break,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            self.broker.metrics.connections.inc();
            let conn = Connection::new(self.broker.clone(), stream, peer);
            let conn_shutdown = shutdown.clone();
            let broker = self.broker.clone();
            tokio::spawn(async move {
                match conn.run(conn_shutdown).await {
                    Ok(()) => tracing::debug!(%peer, "connection closed"),
                    Err(ConnectionError::Io(e)) => {
                        tracing::debug!(%peer, error = %e, "connection closed")
                    }
                    Err(e) => tracing::warn!(%peer, error = %e, "closing connection"),
                }
                broker.metrics.connections.dec();
                drop(permit);
            });
        }
        drop(self.listener);
        let all = self.limit.acquire_many(max as u32);
        if tokio::time::timeout(drain, all).await.is_err() {
            tracing::warn!("connections still open after the drain period; closing them");
        }
    }
}
