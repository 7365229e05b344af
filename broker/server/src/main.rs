//! The `fjord-broker` binary: flags, logging, signals.

use anyhow::Context;
use clap::Parser;
use fjord_broker::config::BrokerConfig;
use std::path::PathBuf;

/// A Kafka-compatible broker. With no flags: one node on 127.0.0.1:9092 storing data
/// in ./fjord-data.
#[derive(Parser)]
#[command(name = "fjord-broker", version)]
struct Args {
    /// A server.properties file (Kafka property names).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set one property, e.g. `--set log.dirs=/data` (repeatable; beats file and env).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Log format: text or json.
    #[arg(long, env = "FJORD_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(args.log_format);
    raise_descriptor_limit();
    let cfg = BrokerConfig::load(args.config.as_deref(), std::env::vars(), &args.sets)
        .context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fjord")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(fjord_broker::server::run(cfg, stop_signal()))?;
    Ok(())
}

/// Before the runtime starts, so every thread and every later descriptor sees the new limit.
fn raise_descriptor_limit() {
    match fjord_broker::rlimit::raise_nofile() {
        Ok(l) if l.soft > l.soft_before => tracing::info!(
            from = l.soft_before,
            to = l.soft,
            hard = l.hard,
            "raised the open-file limit (RLIMIT_NOFILE)"
        ),
        Ok(l) => tracing::info!(
            soft = l.soft,
            hard = l.hard,
            "open-file limit (RLIMIT_NOFILE)"
        ),
        // Not fatal: the broker runs with the limit it was given, and says so.
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit (RLIMIT_NOFILE)"),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FJORD_LOG")
        // openraft narrates every vote at INFO; elections are logged by the controller.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
