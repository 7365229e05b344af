//! The two Services of a Cluster: a headless one giving every broker a stable DNS name (the
//! advertised listener), and a ClusterIP one clients bootstrap from.

use std::collections::BTreeMap;

use fjord_crds::Cluster;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::owned_meta;
use crate::error::Result;
use crate::names::{selector_labels, ClusterNames};

/// Label telling the two Services apart, e.g. for the ServiceMonitor selector.
pub const SERVICE_ROLE_LABEL: &str = "fjord.dev/service";

/// Headless Service `<cluster>-brokers`: per-pod DNS `<cluster>-<n>.<cluster>-brokers.<ns>.svc`.
/// `publishNotReadyAddresses` lets brokers find each other before they are ready, which a
/// quorum needs to form.
pub fn desired_headless_service(cluster: &Cluster) -> Result<Service> {
    let names = ClusterNames::new(cluster);
    let mut meta = owned_meta(cluster, names.headless_service())?;
    add_role(&mut meta.labels, "brokers");
    Ok(Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(cluster)),
            ports: Some(ports(cluster, true)),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

/// ClusterIP Service `<cluster>-bootstrap` on the Kafka port, over ready brokers only.
pub fn desired_client_service(cluster: &Cluster) -> Result<Service> {
    let names = ClusterNames::new(cluster);
    let mut meta = owned_meta(cluster, names.client_service())?;
    add_role(&mut meta.labels, "bootstrap");
    Ok(Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(cluster)),
            ports: Some(ports(cluster, false)),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

fn add_role(labels: &mut Option<BTreeMap<String, String>>, role: &str) {
    labels
        .get_or_insert_with(BTreeMap::new)
        .insert(SERVICE_ROLE_LABEL.into(), role.into());
}

fn ports(cluster: &Cluster, with_metrics: bool) -> Vec<ServicePort> {
    let mut ports = vec![port("kafka", cluster.spec.listener.port)];
    if with_metrics && cluster.spec.metrics.enabled {
        ports.push(port("metrics", cluster.spec.metrics.port));
    }
    ports
}

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        app_protocol: None,
        ..ServicePort::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::testing::{assert_snapshot, cluster};

    #[test]
    fn headless_service_matches_snapshot() {
        let c = cluster("version: 0.1.0\n");
        assert_snapshot("service-headless", &desired_headless_service(&c).unwrap());
    }

    #[test]
    fn client_service_matches_snapshot() {
        let c = cluster("version: 0.1.0\nlistener: {port: 19092}\n");
        assert_snapshot("service-bootstrap", &desired_client_service(&c).unwrap());
    }

    #[test]
    fn headless_service_publishes_not_ready_brokers() {
        let s = desired_headless_service(&cluster("version: 0.1.0\n")).unwrap();
        let spec = s.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        assert_eq!(s.metadata.name.as_deref(), Some("events-brokers"));
    }

    #[test]
    fn client_service_selects_broker_pods_on_the_listener_port() {
        let s = desired_client_service(&cluster("version: 0.1.0\n")).unwrap();
        let spec = s.spec.unwrap();
        assert_eq!(s.metadata.name.as_deref(), Some("events-bootstrap"));
        assert_eq!(spec.publish_not_ready_addresses, None);
        let sel = spec.selector.unwrap();
        assert_eq!(sel["app.kubernetes.io/instance"], "events");
        assert_eq!(sel["app.kubernetes.io/component"], "broker");
        let ports = spec.ports.unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].port, 9092);
        let labels = s.metadata.labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "fjord-operator");
        assert_eq!(labels["app.kubernetes.io/version"], "0.1.0");
    }
}
