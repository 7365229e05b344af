//! `fjord-operator`: runs the Cluster and Topic controllers while holding the leader Lease.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use fjord_operator::context::Context;
use fjord_operator::desired::Settings;
use fjord_operator::leader::{LeaderElector, Timing};
use fjord_operator::metrics::Metrics;
use fjord_operator::{http, run};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Runs Fjord clusters and topics on Kubernetes.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Namespace to watch; repeat for several. All namespaces when omitted.
    #[arg(
        long = "namespace",
        env = "FJORD_WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    namespaces: Vec<String>,
    /// Address of the /metrics and /healthz endpoint.
    #[arg(long, env = "FJORD_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Log format.
    #[arg(long, env = "FJORD_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Image repository of the brokers, tagged with a Cluster's spec.version.
    #[arg(
        long,
        env = "FJORD_BROKER_IMAGE_REPOSITORY",
        default_value = "ghcr.io/fjord/fjord-broker"
    )]
    broker_image_repository: String,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "fjord-operator-leader")]
    lease_name: String,
    /// Namespace of the Lease (defaults to the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease stays valid, counted by a standby from when it saw the last renewal.
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Seconds the leader keeps leading without a successful renewal (less than the lease
    /// duration, so it stops before a standby may take over).
    #[arg(long, default_value_t = 10)]
    renew_deadline_seconds: u64,
    /// Seconds between two attempts to acquire or renew the Lease.
    #[arg(long, default_value_t = 2)]
    retry_period_seconds: u64,
    /// Run without leader election (a single replica only).
    #[arg(long)]
    no_leader_election: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(args.log_format);

    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes configuration (in-cluster or kubeconfig)")?;
    let metrics = Arc::new(Metrics::new());
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("binding {}", args.metrics_addr))?;
    tokio::spawn(http::serve(listener, metrics.clone()));

    let timing = Timing {
        lease_duration: Duration::from_secs(args.lease_duration_seconds),
        renew_deadline: Duration::from_secs(args.renew_deadline_seconds),
        retry_period: Duration::from_secs(args.retry_period_seconds),
    };
    timing
        .validate()
        .map_err(|e| anyhow::anyhow!("leader election: {e}"))?;
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("fjord-operator-{}", uuid::Uuid::new_v4()));
    let elector = (!args.no_leader_election).then(|| {
        LeaderElector::new(
            client.clone(),
            &args.lease_namespace,
            &args.lease_name,
            &identity,
            timing,
        )
    });
    if let Some(e) = &elector {
        tracing::info!("waiting for the leader Lease");
        e.acquire().await;
        tracing::info!("acquired the leader Lease");
    }
    metrics.leader.set(1);

    let settings = Settings {
        image_repository: args.broker_image_repository.clone(),
    };
    let ctx = Arc::new(Context::new(client.clone(), settings, metrics, &identity));
    let controllers = run::controllers(client, &args.namespaces, ctx);
    tokio::select! {
        () = controllers => tracing::warn!("controllers stopped"),
        () = keep_leading(elector.clone()) => {
            tracing::error!("lost the leader Lease; exiting so another replica leads");
            std::process::exit(1);
        }
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        () = sigterm() => tracing::info!("terminating"),
    }
    if let Some(e) = &elector {
        if let Err(err) = e.release().await {
            tracing::warn!(error = %err, "releasing the leader Lease failed");
        }
    }
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn sigterm() {
    #[cfg(unix)]
    {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
            return;
        }
    }
    futures::future::pending::<()>().await;
}

/// Returns once leadership is lost (never without an elector).
async fn keep_leading(elector: Option<LeaderElector>) {
    match elector {
        Some(e) => e.keep_leading().await,
        None => futures::future::pending().await,
    }
}
