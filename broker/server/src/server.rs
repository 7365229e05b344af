//! Start-up and shutdown of a broker process.

use crate::broker::{Broker, StartError};
use crate::config::{self, BrokerConfig};
use crate::listener::Listener;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long in-flight requests may take to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {error}")]
    Bind { addr: String, error: std::io::Error },
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("loading the logs stopped unexpectedly: {0}")]
    Loader(String),
}

/// Runs the broker until `stop` resolves (SIGTERM in the binary), then shuts down
/// cleanly: stop accepting, finish in-flight requests, flush and close every log.
pub async fn run(
    cfg: BrokerConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    let addr = cfg.listener.bind_addr();
    let kafka = TcpListener::bind(&addr)
        .await
        .map_err(|error| ServerError::Bind {
            addr: addr.clone(),
            error,
        })?;
    let bound = kafka.local_addr().map_err(|error| ServerError::Bind {
        addr: addr.clone(),
        error,
    })?;
    let metrics_addr = format!("{}:{}", bound.ip(), cfg.metrics_port);
    let metrics = TcpListener::bind(&metrics_addr)
        .await
        .map_err(|error| ServerError::Bind {
            addr: metrics_addr.clone(),
            error,
        })?;
    let metrics_bound = metrics.local_addr().map_err(|error| ServerError::Bind {
        addr: metrics_addr,
        error,
    })?;
    let advertised = config::advertised(&cfg, bound);
    let (trigger, shutdown) = Shutdown::new();
    let max_connections = cfg.max_connections;
    let budget = crate::budget::RequestBudget::new(cfg.queued_max_request_bytes);
    let quotas = crate::connection_quotas::ConnectionQuotas::new(
        cfg.max_connections_per_ip,
        cfg.max_connections_per_ip_overrides.clone(),
    );

    // Probes can see the process is alive while logs load; /readyz waits for them.
    tracing::info!(kafka_addr = %bound, metrics_addr = %metrics_bound, "loading logs");
    let health = crate::http::Health::default();
    tokio::spawn(crate::http::serve(
        metrics,
        health.clone(),
        shutdown.clone(),
    ));
    let loading = tokio::task::spawn_blocking(move || Broker::open(cfg, advertised));
    let opened = loading
        .await
        .map_err(|e| ServerError::Loader(e.to_string()))??;
    let broker = Arc::new(opened);
    let _ = health.set(broker.clone());
    tokio::spawn(crate::maintenance::run(broker.clone(), shutdown.clone()));

    let listener = Listener {
        listener: kafka,
        broker: broker.clone(),
        limit: Arc::new(Semaphore::new(max_connections)),
        budget,
        quotas,
    };
    broker.set_ready();
    tracing::info!(
        kafka_addr = %bound,
        metrics_addr = %metrics_bound,
        advertised = %format!("{}:{}", broker.advertised.host, broker.advertised.port),
        node_id = broker.config.node_id,
        cluster_id = %broker.cluster_id(),
        "broker ready"
    );
    let serving = tokio::spawn(listener.run(shutdown.clone(), DRAIN));
    stop.await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    let _ = trigger.send(true);
    let _ = serving.await;
    let closing = broker.clone();
    let _ = tokio::task::spawn_blocking(move || closing.close_logs()).await;
    tracing::info!("shutdown complete: logs flushed and marked clean");
    Ok(())
}
