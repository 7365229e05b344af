//! The brokers' StatefulSet.
//!
//! Shaped for the operator-driven rolls and scaling of DESIGN §4: `OnDelete` updates (pods move
//! to a new revision only when the operator deletes them), `Parallel` pod management (the
//! operator, not the StatefulSet controller, orders changes), and identity from the pod ordinal.

use std::collections::BTreeMap;

use fjord_crds::Cluster;
use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SeccompProfile, SecurityContext, TopologySpreadConstraint, Volume, VolumeMount,
    VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::configmap::{config_hash, template_properties};
use super::quorum::Quorum;
use super::{owned_meta, Settings};
use crate::error::Result;
use crate::names::{
    labels, selector_labels, ClusterNames, CONFIG_HASH_ANNOTATION, CONFIG_MOUNT, DATA_MOUNT,
    RACK_KEY_ANNOTATION,
};

/// Seconds a broker gets after SIGTERM when the spec does not say: enough to flush and write
/// the clean-shutdown marker on a slow disk (and, later, to move leadership away).
pub const DEFAULT_TERMINATION_GRACE_SECONDS: i64 = 120;
/// Name of the volume claim template; PVCs are `data-<cluster>-<n>`.
pub const DATA_VOLUME: &str = "data";
/// UID and GID the broker runs as (the broker image's non-root user).
pub const BROKER_UID: i64 = 65532;
/// Downward-API label holding the pod's ordinal (Kubernetes >= 1.28).
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The StatefulSet of `cluster`.
pub fn desired_statefulset(
    cluster: &Cluster,
    settings: &Settings,
    quorum: &Quorum,
) -> Result<StatefulSet> {
    let names = ClusterNames::new(cluster);
    let spec = &cluster.spec;
    let storage = &spec.storage;
    Ok(StatefulSet {
        metadata: owned_meta(cluster, names.statefulset())?,
        spec: Some(StatefulSetSpec {
            replicas: Some(spec.replicas),
            service_name: Some(names.headless_service()),
            pod_management_policy: Some("Parallel".into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".into()),
                rolling_update: None,
            }),
            selector: LabelSelector {
                match_labels: Some(selector_labels(cluster)),
                ..LabelSelector::default()
            },
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some(storage.retention.when_deleted.as_str().into()),
                    when_scaled: Some(storage.retention.when_scaled.as_str().into()),
                },
            ),
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(DATA_VOLUME.into()),
                    labels: Some(selector_labels(cluster)),
                    ..ObjectMeta::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    storage_class_name: storage.storage_class_name.clone(),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([("storage".into(), storage.size.clone())])),
                        ..VolumeResourceRequirements::default()
                    }),
                    ..PersistentVolumeClaimSpec::default()
                }),
                ..PersistentVolumeClaim::default()
            }]),
            template: pod_template(cluster, settings, quorum),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    })
}

/// The image the brokers run: `spec.image`, else `<repository>:<version>`.
pub fn broker_image(cluster: &Cluster, settings: &Settings) -> String {
    cluster
        .spec
        .image
        .clone()
        .unwrap_or_else(|| format!("{}:{}", settings.image_repository, cluster.spec.version))
}

fn pod_template(cluster: &Cluster, settings: &Settings, quorum: &Quorum) -> PodTemplateSpec {
    let spec = &cluster.spec;
    let overrides = &spec.pod_template;
    let names = ClusterNames::new(cluster);

    // User labels first, so ours win on conflict (the selector must keep matching).
    let mut pod_labels = overrides.labels.clone();
    pod_labels.extend(labels(cluster));
    let mut annotations = overrides.annotations.clone();
    annotations.insert(
        CONFIG_HASH_ANNOTATION.into(),
        config_hash(&template_properties(cluster, quorum)),
    );
    if spec.metrics.enabled {
        annotations.insert("prometheus.io/scrape".into(), "true".into());
        annotations.insert("prometheus.io/port".into(), spec.metrics.port.to_string());
        annotations.insert("prometheus.io/path".into(), "/metrics".into());
    }
    if let Some(rack) = &spec.rack {
        annotations.insert(RACK_KEY_ANNOTATION.into(), rack.topology_key.clone());
    }

    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![broker_container(cluster, settings, &names)],
            volumes: Some(vec![Volume {
                name: "config".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: names.configmap(),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            }]),
            termination_grace_period_seconds: Some(
                overrides
                    .termination_grace_period_seconds
                    .unwrap_or(DEFAULT_TERMINATION_GRACE_SECONDS),
            ),
            affinity: Some(
                overrides
                    .affinity
                    .clone()
                    .unwrap_or_else(|| spread_over_nodes(cluster)),
            ),
            topology_spread_constraints: spec.rack.as_ref().map(|rack| {
                vec![TopologySpreadConstraint {
                    max_skew: 1,
                    topology_key: rack.topology_key.clone(),
                    when_unsatisfiable: "ScheduleAnyway".into(),
                    label_selector: Some(LabelSelector {
                        match_labels: Some(selector_labels(cluster)),
                        ..LabelSelector::default()
                    }),
                    ..TopologySpreadConstraint::default()
                }]
            }),
            tolerations: (!overrides.tolerations.is_empty()).then(|| overrides.tolerations.clone()),
            node_selector: (!overrides.node_selector.is_empty())
                .then(|| overrides.node_selector.clone()),
            priority_class_name: overrides.priority_class_name.clone(),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(BROKER_UID),
                run_as_group: Some(BROKER_UID),
                fs_group: Some(BROKER_UID),
                fs_group_change_policy: Some("OnRootMismatch".into()),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            ..PodSpec::default()
        }),
    }
}

/// Without user affinity, prefer one broker per node: losing a node then costs one replica.
fn spread_over_nodes(cluster: &Cluster) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        topology_key: "kubernetes.io/hostname".into(),
                        label_selector: Some(LabelSelector {
                            match_labels: Some(selector_labels(cluster)),
                            ..LabelSelector::default()
                        }),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn broker_container(cluster: &Cluster, settings: &Settings, names: &ClusterNames) -> Container {
    let spec = &cluster.spec;
    let probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("metrics".into()),
            scheme: Some("HTTP".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(3),
        ..Probe::default()
    };
    Container {
        name: "broker".into(),
        image: Some(broker_image(cluster, settings)),
        image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().into()),
        command: Some(vec!["fjord-broker".into()]),
        // Each pod reads its own file (voters and broker-only nodes differ); Kubernetes
        // expands $(POD_NAME), defined in the env below.
        args: Some(vec![
            "--config".into(),
            format!("{CONFIG_MOUNT}/$(POD_NAME).properties"),
        ]),
        env: Some(broker_env(cluster, names)),
        ports: Some(vec![
            ContainerPort {
                name: Some("kafka".into()),
                container_port: spec.listener.port,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("metrics".into()),
                container_port: spec.metrics.port,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
        ]),
        // Log recovery after an unclean stop can take minutes; liveness waits for startup.
        startup_probe: Some(probe("/livez", 5, 120)),
        liveness_probe: Some(probe("/livez", 10, 3)),
        readiness_probe: Some(probe("/readyz", 5, 3)),
        resources: spec.resources.clone(),
        volume_mounts: Some(vec![
            VolumeMount {
                name: DATA_VOLUME.into(),
                mount_path: DATA_MOUNT.into(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "config".into(),
                mount_path: CONFIG_MOUNT.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

/// Per-pod broker properties, as `FJORD_*` variables (they outrank the properties file).
fn broker_env(cluster: &Cluster, names: &ClusterNames) -> Vec<EnvVar> {
    let field = |name: &str, path: &str| EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    let mut env = vec![
        field("POD_NAME", "metadata.name"),
        field(
            "FJORD_NODE_ID",
            &format!("metadata.labels['{POD_INDEX_LABEL}']"),
        ),
        EnvVar {
            name: "FJORD_ADVERTISED_LISTENERS".into(),
            // Dependent variable: Kubernetes expands $(POD_NAME) defined above.
            value: Some(format!(
                "PLAINTEXT://$(POD_NAME).{}.{}.svc:{}",
                names.headless_service(),
                names.namespace,
                cluster.spec.listener.port
            )),
            ..EnvVar::default()
        },
    ];
    if let Some(rack) = &cluster.spec.rack {
        // Node labels are not in the downward API; a pod label of the same key is (Kubernetes
        // copies topology.kubernetes.io/zone and /region onto pods with PodTopologyLabels).
        // When the label is absent the value is empty and the broker runs without a rack.
        env.push(field(
            "FJORD_BROKER_RACK",
            &format!("metadata.labels['{}']", rack.topology_key),
        ));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::testing::{assert_snapshot, cluster};

    fn sts(yaml: &str) -> StatefulSet {
        let c = cluster(yaml);
        let q = Quorum::new(c.spec.replicas, None);
        desired_statefulset(&c, &Settings::default(), &q).unwrap()
    }

    fn container(s: &StatefulSet) -> Container {
        s.spec.clone().unwrap().template.spec.unwrap().containers[0].clone()
    }

    #[test]
    fn statefulset_matches_snapshot() {
        assert_snapshot("statefulset", &sts("version: 0.1.0\n"));
    }

    #[test]
    fn statefulset_with_every_override_matches_snapshot() {
        let s = sts(r#"
version: 0.2.0
replicas: 5
image: registry.example/fjord:dev
imagePullPolicy: Always
storage: {size: 100Gi, storageClassName: fast, retention: {whenDeleted: Delete, whenScaled: Retain}}
resources: {requests: {cpu: "1", memory: 2Gi}, limits: {memory: 2Gi}}
rack: {topologyKey: topology.kubernetes.io/zone}
listener: {port: 19092}
metrics: {enabled: false, port: 19404}
podTemplate:
  annotations: {team: streaming}
  labels: {cost-center: "42", app.kubernetes.io/name: not-fjord}
  tolerations: [{key: dedicated, operator: Equal, value: kafka, effect: NoSchedule}]
  nodeSelector: {disk: ssd}
  priorityClassName: streaming-critical
  terminationGracePeriodSeconds: 300
  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: disk, operator: In, values: [ssd]}]}]}}}
"#);
        assert_snapshot("statefulset-overrides", &s);
    }

    #[test]
    fn updates_only_when_the_operator_deletes_a_pod() {
        let s = sts("version: 0.1.0\n").spec.unwrap();
        assert_eq!(
            s.update_strategy.unwrap().type_.as_deref(),
            Some("OnDelete")
        );
        assert_eq!(s.pod_management_policy.as_deref(), Some("Parallel"));
        assert_eq!(s.service_name.as_deref(), Some("events-brokers"));
        assert_eq!(s.replicas, Some(3));
    }

    #[test]
    fn probes_hit_livez_and_readyz_on_the_metrics_port() {
        let c = container(&sts("version: 0.1.0\n"));
        let path = |p: Option<Probe>| {
            let g = p.unwrap().http_get.unwrap();
            (g.path.unwrap(), g.port)
        };
        let metrics = IntOrString::String("metrics".into());
        assert_eq!(path(c.startup_probe), ("/livez".into(), metrics.clone()));
        assert_eq!(path(c.liveness_probe), ("/livez".into(), metrics.clone()));
        assert_eq!(path(c.readiness_probe), ("/readyz".into(), metrics));
        let ports = c.ports.unwrap();
        assert!(ports
            .iter()
            .any(|p| p.name.as_deref() == Some("metrics") && p.container_port == 9404));
    }

    #[test]
    fn node_id_comes_from_the_pod_ordinal_and_listener_from_stable_dns() {
        let env = container(&sts("version: 0.1.0\n")).env.unwrap();
        let node_id = env.iter().find(|e| e.name == "FJORD_NODE_ID").unwrap();
        let path = &node_id
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path;
        assert_eq!(path, "metadata.labels['apps.kubernetes.io/pod-index']");
        let pos = |n: &str| env.iter().position(|e| e.name == n).unwrap();
        assert!(
            pos("POD_NAME") < pos("FJORD_ADVERTISED_LISTENERS"),
            "dependent var order"
        );
        let adv = &env[pos("FJORD_ADVERTISED_LISTENERS")];
        assert_eq!(
            adv.value.as_deref(),
            Some("PLAINTEXT://$(POD_NAME).events-brokers.streaming.svc:9092")
        );
    }

    #[test]
    fn volumes_follow_the_storage_spec() {
        let s = sts("version: 0.1.0\nstorage: {size: 5Gi, retention: {whenScaled: Delete}}\n")
            .spec
            .unwrap();
        let policy = s.persistent_volume_claim_retention_policy.unwrap();
        assert_eq!(policy.when_deleted.as_deref(), Some("Retain"));
        assert_eq!(policy.when_scaled.as_deref(), Some("Delete"));
        let pvc = &s.volume_claim_templates.unwrap()[0];
        assert_eq!(pvc.metadata.name.as_deref(), Some("data"));
        let req = pvc.spec.as_ref().unwrap().resources.as_ref().unwrap();
        assert_eq!(req.requests.as_ref().unwrap()["storage"].0, "5Gi");
    }

    #[test]
    fn grace_period_allows_a_controlled_shutdown() {
        let p = sts("version: 0.1.0\n").spec.unwrap().template.spec.unwrap();
        assert_eq!(p.termination_grace_period_seconds, Some(120));
    }

    #[test]
    fn operator_labels_win_over_user_pod_labels() {
        let s = sts(
            "version: 0.1.0\npodTemplate: {labels: {app.kubernetes.io/instance: x, team: a}}\n",
        );
        let labels = s.spec.unwrap().template.metadata.unwrap().labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/instance"], "events");
        assert_eq!(labels["team"], "a");
    }

    #[test]
    fn a_config_change_changes_the_pod_template() {
        let a = sts("version: 0.1.0\n").spec.unwrap().template;
        let b = sts("version: 0.1.0\nconfig: {num.partitions: '3'}\n")
            .spec
            .unwrap()
            .template;
        assert_ne!(a, b);
    }

    #[test]
    fn rack_awareness_sets_the_rack_env_and_spreads_pods() {
        let s = sts("version: 0.1.0\nrack: {topologyKey: topology.kubernetes.io/zone}\n");
        let env = container(&s).env.unwrap();
        let rack = env.iter().find(|e| e.name == "FJORD_BROKER_RACK").unwrap();
        assert_eq!(
            rack.value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.labels['topology.kubernetes.io/zone']"
        );
        let spread = s
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .topology_spread_constraints
            .unwrap();
        assert_eq!(spread[0].topology_key, "topology.kubernetes.io/zone");
    }
}
