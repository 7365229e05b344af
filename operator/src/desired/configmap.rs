//! The ConfigMap holding each broker's properties file, `<pod>.properties`.
//!
//! Voters and broker-only nodes need different files (`process.roles`, the CONTROLLER
//! listener), so each pod gets its own, selected by `$(POD_NAME)` in the container args. The
//! file does not depend on the ordinal otherwise: `node.id`, `advertised.listeners` and
//! `broker.rack` come from the pod's `FJORD_*` environment, which the broker ranks above the
//! file. Adding brokers adds files and changes none of the existing ones.

use std::fmt::Write;

use fjord_crds::Cluster;
use k8s_openapi::api::core::v1::ConfigMap;

use super::owned_meta;
use super::quorum::Quorum;
use crate::error::Result;
use crate::names::{ClusterNames, LOG_DIR, QUORUM_PORT};

/// Name of the Kafka listener clients and brokers use.
pub const BROKER_LISTENER: &str = "PLAINTEXT";
/// Name of the metadata quorum's listener (`controller.listener.names`).
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";

/// The ConfigMap of `cluster`: one properties file per broker pod.
pub fn desired_configmap(cluster: &Cluster, quorum: &Quorum) -> Result<ConfigMap> {
    let names = ClusterNames::new(cluster);
    let data = (0..cluster.spec.replicas.max(0))
        .map(|n| {
            (
                properties_key(&format!("{}-{n}", names.statefulset())),
                broker_properties(cluster, quorum, n),
            )
        })
        .collect();
    Ok(ConfigMap {
        metadata: owned_meta(cluster, names.configmap())?,
        data: Some(data),
        ..ConfigMap::default()
    })
}

/// Key of pod `pod`'s properties file in the ConfigMap.
pub fn properties_key(pod: &str) -> String {
    format!("{pod}.properties")
}

/// The properties file of broker `ordinal`: operator-owned keys first, then the user's
/// `spec.config` in key order. The caller has already refused user keys that collide with
/// operator-owned ones.
pub fn broker_properties(cluster: &Cluster, quorum: &Quorum, ordinal: i32) -> String {
    role_properties(cluster, quorum, quorum.is_voter(ordinal))
}

/// The file of a voter (`voter`) or of a broker-only node; it does not depend on the ordinal.
pub fn role_properties(cluster: &Cluster, quorum: &Quorum, voter: bool) -> String {
    let names = ClusterNames::new(cluster);
    let spec = &cluster.spec;
    let mut out = String::from(
        "# Managed by fjord-operator. node.id, advertised.listeners and broker.rack come from\n\
         # the pod environment (FJORD_*), which takes precedence over this file.\n",
    );
    let port = spec.listener.port;
    // Writing to a String cannot fail.
    if voter {
        let _ = writeln!(out, "process.roles=broker,controller");
        let _ = writeln!(
            out,
            "listeners={BROKER_LISTENER}://0.0.0.0:{port},{CONTROLLER_LISTENER}://0.0.0.0:{QUORUM_PORT}"
        );
    } else {
        let _ = writeln!(out, "process.roles=broker");
        let _ = writeln!(out, "listeners={BROKER_LISTENER}://0.0.0.0:{port}");
    }
    let _ = writeln!(out, "listener.security.protocol.map={BROKER_LISTENER}:PLAINTEXT,{CONTROLLER_LISTENER}:PLAINTEXT");
    let _ = writeln!(out, "inter.broker.listener.name={BROKER_LISTENER}");
    let _ = writeln!(out, "controller.listener.names={CONTROLLER_LISTENER}");
    let _ = writeln!(
        out,
        "controller.quorum.voters={}",
        quorum.voters_property(&names)
    );
    let _ = writeln!(out, "log.dirs={LOG_DIR}");
    let _ = writeln!(out, "metrics.port={}", spec.metrics.port);
    for (k, v) in &spec.config {
        let _ = writeln!(out, "{k}={}", escape_value(v));
    }
    out
}

/// What the pod template's config hash covers: both role files, which do not change when the
/// cluster scales (so a scale does not roll every broker).
pub fn template_properties(cluster: &Cluster, quorum: &Quorum) -> String {
    role_properties(cluster, quorum, true) + &role_properties(cluster, quorum, false)
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
    use std::collections::BTreeSet;

    use super::*;
    use crate::desired::testing::{assert_snapshot, cluster};

    fn quorum(voters: &[i32]) -> Quorum {
        Quorum {
            voters: voters.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    #[test]
    fn configmap_matches_snapshot() {
        let c =
            cluster("version: 0.1.0\nconfig: {num.partitions: '6', log.retention.ms: '3600000'}\n");
        assert_snapshot(
            "configmap",
            &desired_configmap(&c, &quorum(&[0, 1, 2])).unwrap(),
        );
    }

    #[test]
    fn voters_get_a_controller_listener_and_the_voter_list() {
        let c = cluster("version: 0.1.0\nreplicas: 3\n");
        let p = broker_properties(&c, &quorum(&[0, 1, 2]), 1);
        assert!(p.contains("process.roles=broker,controller\n"));
        assert!(p.contains("listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093\n"));
        assert!(p.contains("controller.listener.names=CONTROLLER\n"));
        assert!(p.contains("inter.broker.listener.name=PLAINTEXT\n"));
        assert!(p.contains("log.dirs=/var/lib/fjord/data\n"));
        assert!(p.contains("metrics.port=9404\n"));
        assert!(p.contains(
            "controller.quorum.voters=0@events-0.events-brokers.streaming.svc:9093,\
             1@events-1.events-brokers.streaming.svc:9093,\
             2@events-2.events-brokers.streaming.svc:9093\n"
        ));
    }

    #[test]
    fn a_non_voter_is_broker_only_without_a_controller_listener() {
        let c = cluster("version: 0.1.0\nreplicas: 5\n");
        let p = broker_properties(&c, &quorum(&[0, 1, 2]), 4);
        assert!(p.contains("process.roles=broker\n"));
        assert!(p.contains("listeners=PLAINTEXT://0.0.0.0:9092\n"));
        assert!(p.contains("controller.listener.names=CONTROLLER\n"));
        assert!(!p.contains("4@"), "a non-voter is not in the voter list");
    }

    #[test]
    fn scaling_up_adds_files_and_changes_no_existing_one() {
        let q = quorum(&[0, 1, 2]);
        let three = desired_configmap(&cluster("version: 0.1.0\nreplicas: 3\n"), &q).unwrap();
        let five = desired_configmap(&cluster("version: 0.1.0\nreplicas: 5\n"), &q).unwrap();
        let (three, five) = (three.data.unwrap(), five.data.unwrap());
        assert_eq!(three.len(), 3);
        assert_eq!(five.len(), 5);
        for (k, v) in &three {
            assert_eq!(five.get(k), Some(v), "{k} was rewritten by the scale");
        }
        let c3 = cluster("version: 0.1.0\nreplicas: 3\n");
        let c5 = cluster("version: 0.1.0\nreplicas: 5\n");
        assert_eq!(
            config_hash(&template_properties(&c3, &q)),
            config_hash(&template_properties(&c5, &q)),
            "a scale does not change the pod template"
        );
    }

    #[test]
    fn a_newline_in_a_value_cannot_inject_a_property() {
        let c = cluster("version: 0.1.0\nconfig: {num.partitions: \"1\\nnode.id=7\"}\n");
        let p = broker_properties(&c, &quorum(&[0]), 0);
        assert!(!p.lines().any(|l| l.starts_with("node.id=")));
        assert!(p.contains("num.partitions=1\\nnode.id=7\n"));
    }

    #[test]
    fn owner_reference_points_at_the_cluster() {
        let c = cluster("version: 0.1.0\n");
        let cm = desired_configmap(&c, &quorum(&[0, 1, 2])).unwrap();
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
