//! Fixtures and the snapshot check shared by the builder tests.

use std::path::PathBuf;

use fjord_crds::{Cluster, ClusterSpec};
use kube::api::ObjectMeta;
use serde::Serialize;

/// A Cluster as the API server returns it: namespaced, with a uid and a generation.
pub fn cluster(yaml_spec: &str) -> Cluster {
    let spec: ClusterSpec = serde_yaml::from_str(yaml_spec).expect("test spec parses");
    let mut c = Cluster::new("events", spec);
    c.metadata = ObjectMeta {
        name: Some("events".into()),
        namespace: Some("streaming".into()),
        uid: Some("8d3f0c1e-0000-4000-8000-000000000001".into()),
        generation: Some(1),
        ..ObjectMeta::default()
    };
    c
}

/// Compares `value` as YAML with `operator/tests/snapshots/<name>.yaml`.
/// `FJORD_UPDATE_SNAPSHOTS=1` rewrites the file instead (then read the diff line by line).
pub fn assert_snapshot<T: Serialize>(name: &str, value: &T) {
    let actual = serde_yaml::to_string(value).expect("object serialises");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.yaml"));
    if std::env::var_os("FJORD_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir snapshots");
        std::fs::write(&path, &actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "snapshot {} differs; run with FJORD_UPDATE_SNAPSHOTS=1 and review the diff.\n--- actual ---\n{actual}",
        path.display()
    );
}
