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

/// Whether a resource's status has `Ready=True`.
pub fn ready(obj: &serde_json::Value) -> bool {
    obj["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Creates the Topic `topic` (its whole object) in `ns`, waits up to `within` until it is
/// Ready, and returns how the brokers behind `bootstrap` (resolved by `kubelet`) describe it.
pub async fn create_ready_topic(
    client: &kube::Client,
    server: &fake_apiserver::FakeApiServer,
    kubelet: &kubelet::Kubelet,
    ns: &str,
    topic: serde_json::Value,
    bootstrap: &str,
    within: Duration,
) -> Result<fjord_client::TopicInfo, String> {
    let name = topic["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let topics: kube::Api<fjord_crds::Topic> = kube::Api::namespaced(client.clone(), ns);
    let object = serde_json::from_value(topic).map_err(|e| e.to_string())?;
    topics
        .create(&kube::api::PostParams::default(), &object)
        .await
        .map_err(|e| e.to_string())?;
    eventually_within("Topic Ready", within, || {
        ready(&server.get("/apis/fjord.dev/v1alpha1/topics", ns, &name)?).then_some(())
    })
    .await?;
    describe_topic(kubelet, bootstrap, &name).await
}

/// How the brokers behind `bootstrap` (resolved by `kubelet`) describe topic `name`.
pub async fn describe_topic(
    kubelet: &kubelet::Kubelet,
    bootstrap: &str,
    name: &str,
) -> Result<fjord_client::TopicInfo, String> {
    let admin = fjord_client::AdminClient::connect(&kubelet.resolve(bootstrap))
        .await
        .map_err(|e| e.to_string())?;
    admin
        .describe_topic(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{name} is not on the brokers"))
}

/// The operator's controllers running against a fake API server, with a test kubelet that
/// runs each Pod as a real `fjord-broker`; the Cluster's Kafka and metrics ports are free
/// ports picked here. The controllers stop when this is dropped.
pub struct Operator {
    pub server: fake_apiserver::FakeApiServer,
    pub client: kube::Client,
    pub kubelet: kubelet::Kubelet,
    pub port: u16,
    pub metrics: u16,
    controllers: tokio::task::JoinHandle<()>,
}

impl Operator {
    /// Starts the controllers watching `ns`.
    pub fn start(ns: &str) -> Operator {
        let server = fake_apiserver::FakeApiServer::new();
        let client = server.client();
        let kubelet = kubelet::start(server.clone(), ns);
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port()
        };
        let (port, metrics) = (free(), free());
        let ctx = context_with_dns(client.clone(), kubelet.dns());
        let (c, namespaces) = (client.clone(), vec![ns.to_string()]);
        let controllers =
            tokio::spawn(
                async move { fjord_operator::run::controllers(c, &namespaces, ctx).await },
            );
        Operator {
            server,
            client,
            kubelet,
            port,
            metrics,
            controllers,
        }
    }

    /// Creates the Cluster `events` in `ns` with `spec`, plus this harness's listener and
    /// metrics ports.
    pub async fn create_cluster(&self, ns: &str, mut spec: serde_json::Value) {
        spec["listener"]["port"] = self.port.into();
        spec["metrics"]["port"] = self.metrics.into();
        let clusters: kube::Api<fjord_crds::Cluster> =
            kube::Api::namespaced(self.client.clone(), ns);
        let cluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "fjord.dev/v1alpha1", "kind": "Cluster",
            "metadata": {"name": "events"}, "spec": spec,
        }))
        .expect("a Cluster");
        clusters
            .create(&kube::api::PostParams::default(), &cluster)
            .await
            .expect("create the Cluster");
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.controllers.abort();
    }
}
