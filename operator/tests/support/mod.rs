//! Shared helpers of the operator's integration tests.

#![allow(dead_code)]

pub mod fake_apiserver;

use std::sync::Arc;
use std::time::Duration;

use fjord_operator::context::{BootstrapResolver, Context};
use fjord_operator::desired::Settings;
use fjord_operator::metrics::Metrics;

/// A controller context whose broker connections go to `bootstrap`, with a short timeout.
pub fn context(client: kube::Client, bootstrap: String) -> Arc<Context> {
    let resolver: BootstrapResolver = Arc::new(move |_| bootstrap.clone());
    Arc::new(Context {
        client,
        settings: Settings::default(),
        metrics: Arc::new(Metrics::new()),
        bootstrap: resolver,
        broker_timeout: Duration::from_secs(2),
    })
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
