//! The prometheus-operator ServiceMonitor, built as a dynamic object: its CRD is optional, so
//! the operator does not link its types and reports a condition when it is not installed.

use fjord_crds::Cluster;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use super::owned_meta;
use super::service::SERVICE_ROLE_LABEL;
use crate::error::Result;
use crate::names::{selector_labels, ClusterNames};

/// `monitoring.coreos.com/v1` `ServiceMonitor`.
pub fn service_monitor_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor"),
        "servicemonitors",
    )
}

/// ServiceMonitor `<cluster>` scraping `/metrics` of every broker through the headless Service.
pub fn desired_service_monitor(cluster: &Cluster) -> Result<DynamicObject> {
    let names = ClusterNames::new(cluster);
    let sm = &cluster.spec.metrics.service_monitor;
    let mut meta = owned_meta(cluster, names.service_monitor())?;
    if let Some(labels) = meta.labels.as_mut() {
        for (k, v) in &sm.labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut match_labels = selector_labels(cluster);
    match_labels.insert(SERVICE_ROLE_LABEL.into(), "brokers".into());
    let mut endpoint = json!({ "port": "metrics", "path": "/metrics", "scheme": "http" });
    if let Some(interval) = &sm.interval {
        endpoint["interval"] = json!(interval);
    }
    let mut obj = DynamicObject::new(&names.service_monitor(), &service_monitor_resource());
    obj.metadata = meta;
    obj.data = json!({
        "spec": {
            "selector": { "matchLabels": match_labels },
            "namespaceSelector": { "matchNames": [names.namespace] },
            "endpoints": [endpoint],
        }
    });
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::testing::{assert_snapshot, cluster};

    #[test]
    fn service_monitor_matches_snapshot() {
        let c = cluster(
            "version: 0.1.0\nmetrics: {serviceMonitor: {enabled: true, interval: 30s, labels: {release: prom}}}\n",
        );
        assert_snapshot("servicemonitor", &desired_service_monitor(&c).unwrap());
    }

    #[test]
    fn service_monitor_selects_the_headless_service_metrics_port() {
        let c = cluster("version: 0.1.0\n");
        let sm = desired_service_monitor(&c).unwrap();
        assert_eq!(sm.types.as_ref().unwrap().kind, "ServiceMonitor");
        let sel = &sm.data["spec"]["selector"]["matchLabels"];
        assert_eq!(sel[SERVICE_ROLE_LABEL], "brokers");
        assert_eq!(sm.data["spec"]["endpoints"][0]["port"], "metrics");
        assert!(sm.metadata.owner_references.is_some());
    }
}
