//! The ConfigMap holding the brokers' `broker.properties`.
//!
//! Per-pod values (`node.id`, `advertised.listeners`, `broker.rack`) cannot live in a shared
//! file; the StatefulSet sets them through `FJORD_*` environment variables, which the broker
//! ranks above the file.

use std::collections::BTreeMap;
use std::fmt::Write;

use fjord_crds::Cluster;
use k8s_openapi::api::core::v1::ConfigMap;

use super::owned_meta;
use crate::error::Result;
use crate::names::{ClusterNames, LOG_DIR, PROPERTIES_KEY, QUORUM_PORT};

/// The ConfigMap of `cluster`.
pub fn desired_configmap(cluster: &Cluster) -> Result<ConfigMap> {
    let names = ClusterNames::new(cluster);
    Ok(ConfigMap {
        metadata: owned_meta(cluster, names.configmap())?,
        data: Some(BTreeMap::from([(
            PROPERTIES_KEY.to_string(),
            broker_properties(cluster),
        )])),
        ..ConfigMap::default()
    })
}

/// The shared properties file: operator-owned keys first, then the user's `spec.config` in key
/// order. The caller has already refused user keys that collide with operator-owned ones.
pub fn broker_properties(cluster: &Cluster) -> String {
    let names = ClusterNames::new(cluster);
    let spec = &cluster.spec;
    let voters = (0..spec.replicas)
        .map(|n| format!("{n}@{}:{QUORUM_PORT}", names.broker_host(n)))
        .collect::<Vec<_>>()
        .join(",");
    let mut out = String::from(
        "# Managed by fjord-operator. node.id, advertised.listeners and broker.rack come from\n\
         # the pod environment (FJORD_*), which takes precedence over this file.\n",
    );
    // Writing to a String cannot fail.
    let _ = writeln!(out, "listeners=PLAINTEXT://0.0.0.0:{}", spec.listener.port);
    let _ = writeln!(out, "log.dirs={LOG_DIR}");
    let _ = writeln!(out, "metrics.port={}", spec.metrics.port);
    let _ = writeln!(out, "controller.quorum.voters={voters}");
    for (k, v) in &spec.config {
        let _ = writeln!(out, "{k}={}", escape_value(v));
    }
    out
}

/// Escapes a value for a Java properties file, so a newline cannot smuggle in another key.
fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
    out
}

/// A stable 64-bit FNV-1a hash of the properties, as hex. It goes into a pod annotation so a
/// config change yields a new StatefulSet revision; it need not be cryptographic.
pub fn config_hash(properties: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in properties.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::testing::{assert_snapshot, cluster};

    #[test]
    fn configmap_matches_snapshot() {
        let c =
            cluster("version: 0.1.0\nconfig: {num.partitions: '6', log.retention.ms: '3600000'}\n");
        assert_snapshot("configmap", &desired_configmap(&c).unwrap());
    }

    #[test]
    fn properties_list_every_voter_and_operator_owned_keys() {
        let c = cluster("version: 0.1.0\nreplicas: 3\n");
        let p = broker_properties(&c);
        assert!(p.contains("listeners=PLAINTEXT://0.0.0.0:9092\n"));
        assert!(p.contains("log.dirs=/var/lib/fjord/data\n"));
        assert!(p.contains("metrics.port=9404\n"));
        assert!(p.contains(
            "controller.quorum.voters=0@events-0.events-brokers.streaming.svc:9093,\
             1@events-1.events-brokers.streaming.svc:9093,\
             2@events-2.events-brokers.streaming.svc:9093\n"
        ));
    }

    #[test]
    fn a_newline_in_a_value_cannot_inject_a_property() {
        let c = cluster("version: 0.1.0\nconfig: {num.partitions: \"1\\nnode.id=7\"}\n");
        let p = broker_properties(&c);
        assert!(!p.lines().any(|l| l.starts_with("node.id=")));
        assert!(p.contains("num.partitions=1\\nnode.id=7\n"));
    }

    #[test]
    fn owner_reference_points_at_the_cluster() {
        let c = cluster("version: 0.1.0\n");
        let cm = desired_configmap(&c).unwrap();
        let owners = cm.metadata.owner_references.unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "Cluster");
        assert_eq!(owners[0].api_version, "fjord.dev/v1alpha1");
        assert_eq!(owners[0].uid, "8d3f0c1e-0000-4000-8000-000000000001");
        assert_eq!(owners[0].controller, Some(true));
        assert_eq!(owners[0].block_owner_deletion, Some(true));
    }

    #[test]
    fn config_hash_changes_with_config() {
        assert_ne!(config_hash("a=1\n"), config_hash("a=2\n"));
        assert_eq!(config_hash("a=1\n"), config_hash("a=1\n"));
    }
}
