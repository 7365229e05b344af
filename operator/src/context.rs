//! What every reconcile gets besides the object: the Kubernetes client, operator settings,
//! metrics, and how to reach a Cluster's brokers.

use std::sync::Arc;
use std::time::Duration;

use fjord_client::AdminClient;
use fjord_crds::Cluster;

use crate::desired::Settings;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::names::ClusterNames;

/// Maps a Cluster to the `host:port` list its admin connections bootstrap from.
pub type BootstrapResolver = Arc<dyn Fn(&Cluster) -> String + Send + Sync>;

/// Shared state of the controllers.
#[derive(Clone)]
pub struct Context {
    pub client: kube::Client,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// In a cluster this is the client Service; tests point it at a local broker.
    pub bootstrap: BootstrapResolver,
    /// Upper bound on connecting to a cluster's brokers.
    pub broker_timeout: Duration,
}

impl Context {
    /// A context that reaches brokers through their client Service.
    pub fn new(client: kube::Client, settings: Settings, metrics: Arc<Metrics>) -> Self {
        Context {
            client,
            settings,
            metrics,
            bootstrap: Arc::new(service_bootstrap),
            broker_timeout: Duration::from_secs(10),
        }
    }

    /// An admin connection to `cluster`'s brokers.
    pub async fn admin(&self, cluster: &Cluster) -> Result<AdminClient> {
        let address = (self.bootstrap)(cluster);
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
