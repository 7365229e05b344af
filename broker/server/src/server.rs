//! Start-up and shutdown of a broker process.

use crate::broker::{Broker, StartError};
use crate::config::{self, BrokerConfig};
use crate::listener::Listener;
use crate::quorum::Quorum;
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
    #[error("TLS listener: {0}")]
    Tls(String),
    #[error("connections to other brokers: {0}")]
    InterBroker(String),
}

/// Runs the broker until `stop` resolves (SIGTERM in the binary), then shuts down
/// cleanly: stop accepting, finish in-flight requests, flush and close every log.
pub async fn run(
    cfg: BrokerConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    crate::blocking::install_guard();
    // A broker with peers fetches from them over the broker listener, secured as it is; a
    // single node or a controller-only one never does, so its settings may leave that out.
    let inter_broker = match cfg.security.inter_broker_client() {
        Ok(security) => Some(security),
        Err(e) if cfg.is_single_node() || !cfg.roles.broker => {
            tracing::debug!(error = %e, "no inter-broker client security (single node)");
            None
        }
        Err(e) => return Err(ServerError::InterBroker(e)),
    };
    // The controller listener first: on a controller-only node it is the only one.
    let controller_listener =
        crate::quorum::bind(&cfg)
            .await
            .map_err(|error| ServerError::Bind {
                addr: cfg
                    .controller_listener
                    .as_ref()
                    .map(|l| l.bind_addr())
                    .unwrap_or_default(),
                error,
            })?;
    let addr = cfg.listener.bind_addr();
    let bind_error = |error| ServerError::Bind {
        addr: addr.clone(),
        error,
    };
    let kafka = match cfg.roles.broker {
        true => Some(TcpListener::bind(&addr).await.map_err(bind_error)?),
        false => None,
    };
    let bound = match (&kafka, &controller_listener) {
        (Some(l), _) | (None, Some(l)) => l.local_addr().map_err(bind_error)?,
        (None, None) => {
            return Err(bind_error(std::io::Error::other(
                "a controller-only node needs a controller listener",
            )))
        }
    };
    let tls = match &cfg.security.tls {
        Some(settings) => Some(Arc::new(
            crate::security::tls::TlsContext::new(settings.clone())
                .map_err(|e| ServerError::Tls(e.to_string()))?,
        )),
        None => None,
    };
    // metrics.host: the metrics port may bind another address than the Kafka listener.
    let metrics_host = match cfg.metrics_host.trim() {
        "" => bound.ip().to_string(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_string(),
    };
    let metrics_addr = format!("{metrics_host}:{}", cfg.metrics_port);
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
    match kafka {
        Some(_) => {
            tracing::info!(kafka_addr = %bound, metrics_addr = %metrics_bound, "loading logs")
        }
        None => {
            tracing::info!(controller_addr = %bound, metrics_addr = %metrics_bound, "loading the metadata log")
        }
    }
    let health = crate::http::Health::default();
    tokio::spawn(crate::http::serve(
        metrics,
        health.clone(),
        shutdown.clone(),
    ));
    let quorum = start_quorum(&cfg, controller_listener, &shutdown).await?;
    let cluster_id = quorum.wait_for_cluster_id().await;
    tracing::info!(%cluster_id, node_id = cfg.node_id, dir = %cfg.log_dir.display(), "data directory identity checked");
    let q = quorum.clone();
    let loading = crate::blocking::spawn(move || Broker::open(cfg, advertised, q));
    let opened = loading
        .await
        .map_err(|e| ServerError::Loader(e.to_string()))??;
    let broker = Arc::new(opened);
    if let Some(security) = inter_broker {
        let _ = broker.replication.client_security.set(security);
    }
    let _ = quorum.controller.broker.set(Arc::downgrade(&broker));
    crate::blocking::block_in_place(|| broker.ensure_meta_properties(&cluster_id));
    let _ = health.set(broker.clone());
    crate::quorum::spawn_tasks(broker.clone(), shutdown.clone());
    let Some(kafka) = kafka else {
        // A controller-only node: no Kafka clients, no partitions, never registered.
        broker.set_ready();
        tracing::info!(
            controller_addr = %bound,
            metrics_addr = %metrics_bound,
            node_id = broker.config.node_id,
            cluster_id = %broker.cluster_id(),
            "controller ready"
        );
        stop.await;
        tracing::info!("shutting down the controller");
        let _ = trigger.send(true);
        quorum.shutdown().await;
        tracing::info!("shutdown complete");
        return Ok(());
    };
    tokio::spawn(crate::maintenance::run(broker.clone(), shutdown.clone()));
    wait_registered(&broker).await;

    // Start from the limits in force now (dynamic configs included); later changes
    // reach the same object through the broker.
    let _ = broker.connection_quotas.set(quotas.clone());
    let live = broker.live_config();
    quotas.set_limits(
        live.max_connections_per_ip,
        live.max_connections_per_ip_overrides.clone(),
    );
    let listener = Listener {
        listener: kafka,
        broker: broker.clone(),
        limit: Arc::new(Semaphore::new(max_connections)),
        budget,
        quotas,
        tls,
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
    crate::replication::shutdown::controlled(&broker).await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    let _ = trigger.send(true);
    let _ = serving.await;
    let closing = broker.clone();
    let _ = crate::blocking::spawn(move || closing.close_logs()).await;
    quorum.shutdown().await;
    tracing::info!("shutdown complete: logs flushed and marked clean");
    Ok(())
}

/// Opens the metadata storage (checking the data directory's identity), starts the
/// quorum, its controller listener and the controller's loop, and waits until the
/// image holds what this node had committed before it stopped.
async fn start_quorum(
    cfg: &BrokerConfig,
    controller_listener: Option<TcpListener>,
    shutdown: &crate::shutdown::Shutdown,
) -> Result<Arc<Quorum>, ServerError> {
    let dir = cfg.log_dir.clone();
    let node_id = cfg.node_id;
    std::fs::create_dir_all(&dir).map_err(|error| StartError::DataDir {
        path: dir.clone(),
        error,
    })?;
    let (log, sm) =
        crate::blocking::spawn(move || crate::metadata::format::open_metadata(&dir, node_id))
            .await
            .map_err(|e| ServerError::Loader(e.to_string()))?
            .map_err(StartError::from)?;
    let last_index = log.last_index();
    let single = cfg.is_single_node();
    let quorum = Arc::new(
        Quorum::start(Arc::new(cfg.clone()), log, sm)
            .await
            .map_err(|e| ServerError::Loader(e.to_string()))?,
    );
    if let Some(l) = controller_listener {
        tokio::spawn(crate::quorum::serve(l, quorum.clone(), shutdown.clone()));
    }
    if !cfg.roles.controller {
        crate::quorum::observer::spawn(quorum.clone(), shutdown.clone());
    }
    crate::quorum::spawn_controller(quorum.controller.clone(), shutdown.clone());
    if single {
        // Alone, every entry on disk commits as soon as this node leads: open the logs
        // against the whole image, or partitions of later topics would look stray.
        let mut rx = quorum.applied.clone();
        let caught_up = rx.wait_for(|a| a.index >= last_index);
        let _ = tokio::time::timeout(Duration::from_secs(30), caught_up).await;
    }
    Ok(quorum)
}

/// Waits until the active controller registered this broker (unfenced), so Metadata
/// lists it before clients are told the broker is ready.
async fn wait_registered(broker: &Broker) {
    let mut rx = broker.quorum.applied.clone();
    let me = (broker.config.node_id, broker.incarnation);
    loop {
        let registered = rx.wait_for(|a| {
            a.image
                .brokers
                .get(&me.0)
                .is_some_and(|b| b.incarnation == me.1 && !b.fenced)
        });
        match tokio::time::timeout(Duration::from_secs(5), registered).await {
            Ok(_) => return,
            Err(_) => tracing::info!(
                leader = ?broker.quorum.controller.leader(),
                "waiting for the active controller to register this broker"
            ),
        }
    }
}
