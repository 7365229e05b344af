//! What every reconcile gets besides the object: the Kubernetes client, operator settings,
//! metrics, how to reach a Cluster's brokers, the event recorder and the retry backoff.

use std::sync::Arc;
use std::time::Duration;

use fjord_client::AdminClient;
use fjord_crds::Cluster;
use kube::runtime::events::{Recorder, Reporter};

use crate::backoff::Backoff;
use crate::desired::Settings;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::names::ClusterNames;

/// Maps a Cluster to the `host:port` list its admin connections bootstrap from.
pub type BootstrapResolver = Arc<dyn Fn(&Cluster) -> String + Send + Sync>;
/// Maps a Cluster and a broker ordinal to that broker's own `host:port`.
pub type BrokerResolver = Arc<dyn Fn(&Cluster, i32) -> String + Send + Sync>;

/// Shared state of the controllers.
#[derive(Clone)]
pub struct Context {
    pub client: kube::Client,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// In a cluster this is the client Service; tests point it at a local broker.
    pub bootstrap: BootstrapResolver,
    /// In a cluster each broker's stable DNS name; tests point it at local brokers.
    pub broker_address: BrokerResolver,
    /// Upper bound on connecting to a cluster's brokers.
    pub broker_timeout: Duration,
    /// Publishes Kubernetes Events (events.k8s.io/v1).
    pub recorder: Recorder,
    /// Retry pauses of failed reconciles, per object.
    pub backoff: Arc<Backoff>,
}

impl Context {
    /// A context that reaches brokers through their Services. `identity` names this operator
    /// replica in the Events it publishes.
    pub fn new(
        client: kube::Client,
        settings: Settings,
        metrics: Arc<Metrics>,
        identity: &str,
    ) -> Self {
        let reporter = Reporter {
            controller: crate::names::FIELD_MANAGER.into(),
            instance: Some(identity.into()),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            settings,
            metrics,
            bootstrap: Arc::new(service_bootstrap),
            broker_address: Arc::new(broker_dns),
            broker_timeout: Duration::from_secs(10),
            backoff: Arc::new(Backoff::default()),
        }
    }

    /// An admin connection to `cluster`'s brokers.
    pub async fn admin(&self, cluster: &Cluster) -> Result<AdminClient> {
        self.connect((self.bootstrap)(cluster)).await
    }

    /// An admin connection to broker `ordinal` of `cluster` alone.
    pub async fn broker(&self, cluster: &Cluster, ordinal: i32) -> Result<AdminClient> {
        self.connect((self.broker_address)(cluster, ordinal)).await
    }

    async fn connect(&self, address: String) -> Result<AdminClient> {
        let unreachable = |message: String| Error::BrokerUnreachable {
            address: address.clone(),
            message,
        };
        match tokio::time::timeout(self.broker_timeout, AdminClient::connect(&address)).await {
            Ok(Ok(admin)) => Ok(admin),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable("timed out".into())),
        }
    }
}

/// `<cluster>-bootstrap.<namespace>.svc:<listener port>`.
pub fn service_bootstrap(cluster: &Cluster) -> String {
    ClusterNames::new(cluster).bootstrap_address(cluster.spec.listener.port)
}

/// `<cluster>-<ordinal>.<cluster>-brokers.<namespace>.svc:<listener port>`.
pub fn broker_dns(cluster: &Cluster, ordinal: i32) -> String {
    format!(
        "{}:{}",
        ClusterNames::new(cluster).broker_host(ordinal),
        cluster.spec.listener.port
    )
}
