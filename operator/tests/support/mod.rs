//! Shared helpers of the operator's integration tests.

#![allow(dead_code)]

pub mod dns;
pub mod fake_apiserver;
pub mod kubelet;

use std::sync::Arc;
use std::time::Duration;

use fjord_operator::context::{BootstrapResolver, Context};
use fjord_operator::desired::Settings;
use fjord_operator::metrics::Metrics;

/// A controller context whose broker connections go to `bootstrap`, with a short timeout.
pub fn context(client: kube::Client, bootstrap: String) -> Arc<Context> {
    let resolver: BootstrapResolver = Arc::new({
        let bootstrap = bootstrap.clone();
        move |_| bootstrap.clone()
    });
    let mut ctx = Context::new(
        client,
        Settings::default(),
        Arc::new(Metrics::new()),
        "test-operator",
    );
    ctx.bootstrap = resolver;
    // Every broker ordinal resolves to the one test broker (single-broker clusters).
    ctx.broker_address = Arc::new(move |_, _| bootstrap.clone());
    ctx.broker_timeout = Duration::from_secs(2);
    Arc::new(ctx)
}

/// A controller context that reaches brokers by their real Kubernetes names, resolved through
/// the test kubelet's cluster DNS.
pub fn context_with_dns(client: kube::Client, dns: Arc<dns::Dns>) -> Arc<Context> {
    let mut ctx = Context::new(
        client,
        Settings::default(),
        Arc::new(Metrics::new()),
        "test-operator",
    );
    let d = dns.clone();
    ctx.bootstrap = Arc::new(move |c| d.resolve(&fjord_operator::context::service_bootstrap(c)));
    ctx.broker_address =
        Arc::new(move |c, n| dns.resolve(&fjord_operator::context::broker_dns(c, n)));
    ctx.broker_timeout = Duration::from_secs(2);
    Arc::new(ctx)
}

/// Polls `check` every 50 ms until it returns Some, for at most 20 s.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` every 100 ms until it returns Some, for at most `limit`; Err names what was
/// waited for.
pub async fn eventually_within<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out after {limit:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
