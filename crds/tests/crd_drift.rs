//! The committed CRD YAML must be exactly what the Rust types generate.

use std::path::Path;

#[test]
fn committed_crds_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, generated) in fjord_crds::crd_files() {
        // Same output as `crdgen`, without building it (the test build is usually at hand).
        if std::env::var_os("FJORD_UPDATE_CRDS").is_some() {
            std::fs::write(dir.join(name), &generated).expect("write CRD");
            continue;
        }
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            committed == generated,
            "crds/{name} is out of date with the Rust types; regenerate it with \
             `cargo run -p fjord-crds --bin crdgen` (or run this test with FJORD_UPDATE_CRDS=1) \
             and commit the result"
        );
    }
}

use fjord_crds::{Cluster, Topic};
use kube::CustomResourceExt;

#[test]
fn cluster_has_status_and_scale_subresources() {
    let crd = Cluster::crd();
    let v = &crd.spec.versions[0];
    let sub = v.subresources.as_ref().expect("subresources");
    assert!(sub.status.is_some());
    let scale = sub.scale.as_ref().expect("scale subresource");
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(scale.status_replicas_path, ".status.readyBrokers");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    assert_eq!(crd.spec.names.short_names, Some(vec!["fjc".to_string()]));
    assert_eq!(crd.spec.names.categories, Some(vec!["fjord".to_string()]));
    let columns: Vec<_> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Ready",
            "Desired",
            "Version",
            "Status",
            "Phase",
            "Controller",
            "Under-Replicated",
            "Offline",
            "Age"
        ]
    );
    let wide: Vec<_> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .filter(|c| c.priority == Some(1))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        wide,
        ["Controller", "Under-Replicated", "Offline"],
        "shown by -o wide only"
    );
}

#[test]
fn topic_is_namespaced_with_status_and_printer_columns() {
    let crd = Topic::crd();
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["fjt".to_string()]));
    let v = &crd.spec.versions[0];
    assert!(v
        .subresources
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .is_some());
    let columns: Vec<_> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        ["Cluster", "Partitions", "Replication", "Ready", "Age"]
    );
}

#[test]
fn cluster_spec_defaults_fill_an_almost_empty_spec() {
    let spec: fjord_crds::ClusterSpec = serde_yaml::from_str("version: 0.1.0").unwrap();
    assert_eq!(spec.replicas, 3);
    assert_eq!(spec.listener.port, 9092);
    assert_eq!(spec.metrics.port, 9404);
    assert!(spec.metrics.enabled);
    assert!(!spec.metrics.service_monitor.enabled);
    assert_eq!(spec.storage.size.0, "10Gi");
}
