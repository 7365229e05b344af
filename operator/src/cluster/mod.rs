//! The Cluster controller.
//!
//! A reconcile is the list of named steps in [`reconcile`]: each builds an object with a pure
//! `desired_*()` function and server-side applies it. Then the status, computed by the pure
//! [`status::cluster_status`], is applied to the status subresource.
//!
//! After the objects: a `fjord.dev/roll` request on the Cluster is copied onto its pods, every
//! desired broker is asked directly (does it answer Kafka requests?) and one is asked for the
//! cluster's partitions, and the roll planner ([`crate::roll`]) decides whether to delete one
//! pod: the StatefulSet uses `OnDelete`, so a new pod template reaches a pod only that way.
//! A scale-down shrinks the StatefulSet only once the leaving brokers host no replica
//! ([`crate::scale`]); until the broker serves partition reassignment it is held, with the
//! reason in the Draining condition.

pub mod observe;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_crds::cluster::RolloutStrategy;
use fjord_crds::condition::{DEGRADED, READY};
use fjord_crds::Cluster;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::apply::{apply, apply_params};
use crate::assignment::Broker;
use crate::context::Context;
use crate::desired::configmap::desired_configmap;
use crate::desired::pdb::desired_pdb;
use crate::desired::quorum::Quorum;
use crate::desired::service::{desired_client_service, desired_headless_service};
use crate::desired::servicemonitor::{desired_service_monitor, service_monitor_resource};
use crate::desired::statefulset::desired_statefulset;
use crate::error::{Error, Result};
use crate::events;
use crate::names::{
    selector_labels, selector_string, ClusterNames, FIELD_MANAGER, ROLL_ANNOTATION,
};
use crate::roll::rack::{next_rack_action, RackAction};
use crate::roll::{self, PodState, RollAction, RollInput};
use crate::scale::{self, ScaleState};
use status::{cluster_status, Observed, ServiceMonitorState, SpecProblem};

/// Controller name in metrics and logs.
pub const CONTROLLER: &str = "cluster";

/// Entry point for `kube::runtime::Controller`.
pub async fn reconcile(cluster: Arc<Cluster>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    if cluster.metadata.deletion_timestamp.is_some() {
        // Kubernetes garbage-collects what the Cluster owns; applying it again would only
        // recreate objects the collector is deleting.
        let result = Ok(Action::await_change());
        ctx.metrics.observe(CONTROLLER, &result, started.elapsed());
        return result;
    }
    let result = reconcile_steps(&cluster, &ctx).await;
    ctx.metrics.observe(CONTROLLER, &result, started.elapsed());
    if result.is_ok() {
        ctx.backoff.succeeded(&backoff_key(&cluster));
    }
    if let Err(e) = &result {
        tracing::warn!(cluster = %cluster.name_any(), error = %e, reason = e.reason(), "reconcile failed");
        // Unreachable brokers are reported by the status the reconcile already wrote.
        if !matches!(e, Error::BrokerUnreachable { .. }) {
            // Best effort: the error is what matters, a failed status write is retried next time.
            let _ = report_failure(&cluster, &ctx, e).await;
        }
    }
    result
}

/// Requeue after an error, with a pause that grows with the Cluster's consecutive failures.
pub fn error_policy(cluster: Arc<Cluster>, _error: &Error, ctx: Arc<Context>) -> Action {
    Action::requeue(ctx.backoff.failed(&backoff_key(&cluster)))
}

fn backoff_key(cluster: &Cluster) -> String {
    crate::backoff::key(
        "Cluster",
        cluster.namespace().as_deref(),
        &cluster.name_any(),
    )
}

async fn reconcile_steps(cluster: &Cluster, ctx: &Context) -> Result<Action> {
    let client = &ctx.client;
    let names = ClusterNames::new(cluster);
    let quorum = step_quorum(cluster, ctx).await?;
    let problem = SpecProblem::of(&cluster.spec).or_else(|| {
        quorum
            .problem(cluster.spec.replicas)
            .map(SpecProblem::Quorum)
    });
    if let Some(problem) = problem {
        // Applying would roll pods into a broker that refuses to start: stop and say why.
        let reported = cluster.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == DEGRADED && c.reason == problem.reason())
        });
        if !reported {
            events::warning(
                ctx,
                &cluster.object_ref(&()),
                problem.reason(),
                "RefuseSpec",
                problem.message(),
            )
            .await;
        }
        let now = Time(jiff::Timestamp::now());
        patch_status(
            cluster,
            ctx,
            &status::refused_status(cluster, &problem, &now),
        )
        .await?;
        return Ok(Action::await_change());
    }

    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), &names.namespace);
    let before = sts_api.get_opt(&names.statefulset()).await?;
    // Brokers are asked before the StatefulSet is applied: a scale-down must first know
    // whether the leaving brokers are empty.
    let probe = observe::probe(cluster, ctx).await;
    let scale = step_scale(cluster, before.as_ref(), &probe).await;
    let mut applied = cluster.clone();
    if scale.holds_brokers() {
        if let Some(running) = before.as_ref().and_then(|s| s.spec.as_ref()?.replicas) {
            applied.spec.replicas = running;
        }
    }
    apply(client, "configmap", &desired_configmap(cluster, &quorum)?).await?;
    apply(
        client,
        "headless-service",
        &desired_headless_service(cluster)?,
    )
    .await?;
    apply(client, "client-service", &desired_client_service(cluster)?).await?;
    let sts = apply(
        client,
        "statefulset",
        &desired_statefulset(&applied, &ctx.settings, &quorum)?,
    )
    .await?;
    statefulset_events(cluster, ctx, before.as_ref(), &sts).await;
    apply(client, "pod-disruption-budget", &desired_pdb(cluster)?).await?;
    let service_monitor = step_service_monitor(cluster, ctx).await?;

    let pods = step_roll_request(cluster, ctx, list_pods(cluster, ctx).await?).await?;
    let roll = step_roll(cluster, ctx, &sts, &pods, &probe).await?;

    let states: Vec<PodState> = pods
        .iter()
        .filter_map(|p| observe::pod_state(p, &names.cluster))
        .collect();
    let seen = Observed {
        sts: &sts,
        pods: &states,
        service_monitor,
        unreachable: &probe.unreachable,
        brokers: probe.seen.as_ref(),
        roll: roll.as_ref(),
        scale: &scale,
    };
    let silent = seen.silent_ready_brokers();
    let now = Time(jiff::Timestamp::now());
    let mut status = cluster_status(cluster, &seen, &now);
    status.quorum_voters = quorum.voters.iter().copied().collect();
    let ready = status
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True");
    patch_status(cluster, ctx, &status).await?;
    if !silent.is_empty() {
        // Ready pods whose brokers do not answer: a failure, counted and retried soon.
        return Err(Error::BrokerUnreachable {
            address: silent
                .iter()
                .map(|n| (ctx.broker_address)(cluster, *n))
                .collect::<Vec<_>>()
                .join(","),
            message: status::unreachable_message(&probe.unreachable, &silent),
        });
    }
    // Broker-side facts (controller, under-replicated partitions) change without any watch
    // event, so look again; sooner while converging.
    Ok(Action::requeue(match roll {
        Some(RollAction::Delete { .. }) => Duration::from_secs(2),
        Some(RollAction::Wait { .. }) => Duration::from_secs(5),
        _ if ready => Duration::from_secs(60),
        _ => Duration::from_secs(10),
    }))
}

/// What the drain and balance planners say: a scale-down keeps every broker until the
/// leaving ones are empty (or is refused), and their partitions are moved off them through
/// the brokers' AlterPartitionReassignments, one plan at a time; new brokers that should
/// receive partitions are reported, not filled (that is `fjord reassign`'s job).
async fn step_scale(
    cluster: &Cluster,
    before: Option<&StatefulSet>,
    probe: &observe::Probe,
) -> ScaleState {
    let running = before
        .and_then(|s| s.spec.as_ref()?.replicas)
        .unwrap_or(cluster.spec.replicas);
    let desired = cluster.spec.replicas;
    let brokers: Vec<Broker> = probe
        .seen
        .as_ref()
        .map(|s| {
            s.brokers
                .iter()
                .map(|b| Broker {
                    id: b.node_id,
                    rack: b.rack.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let partitions = probe.seen.as_ref().and_then(|s| s.partitions.as_deref());
    let note = match (desired < running, partitions, probe.admin.as_ref()) {
        (true, Some(partitions), Some(admin)) => {
            let executor = scale::Brokers(admin);
            Some(scale::drain_step(partitions, &brokers, desired, &executor).await)
        }
        (true, _, _) => None,
        (false, _, _) => Some(
            "partitions are not moved onto new brokers automatically: use `fjord reassign`"
                .to_string(),
        ),
    };
    let note = note.filter(|n| !n.is_empty());
    scale::assess(partitions, &brokers, running, desired, note.as_deref())
}

/// The metadata quorum: the voters the brokers already run with (read back from the applied
/// ConfigMap, so a scale never rewrites them), or the voters of a new cluster.
async fn step_quorum(cluster: &Cluster, ctx: &Context) -> Result<Quorum> {
    let names = ClusterNames::new(cluster);
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let existing = api.get_opt(&names.configmap()).await?.and_then(|cm| {
        cm.data?
            .values()
            .find_map(|properties| Quorum::parse_voters(properties))
    });
    Ok(Quorum::new(cluster.spec.replicas, existing))
}

async fn list_pods(cluster: &Cluster, ctx: &Context) -> Result<Vec<Pod>> {
    let names = ClusterNames::new(cluster);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let selector = selector_string(&selector_labels(cluster));
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

/// Events for what the StatefulSet apply changed: created, scaled, new pod template.
async fn statefulset_events(
    cluster: &Cluster,
    ctx: &Context,
    before: Option<&StatefulSet>,
    after: &StatefulSet,
) {
    let reference = cluster.object_ref(&());
    let replicas = |s: &StatefulSet| s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let template = |s: &StatefulSet| s.spec.as_ref().map(|s| s.template.clone());
    let Some(before) = before else {
        let note = format!("created StatefulSet with {} brokers", replicas(after));
        events::normal(ctx, &reference, "StatefulSetCreated", "Create", note).await;
        return;
    };
    let (from, to) = (replicas(before), replicas(after));
    if to > from {
        let note = format!("scaling up from {from} to {to} brokers");
        events::normal(ctx, &reference, "ScalingUp", "Scale", note).await;
    } else if to < from {
        let note = format!("scaling down from {from} to {to} brokers (they host no replicas)");
        events::normal(ctx, &reference, "ScalingDown", "Scale", note).await;
    }
    if template(before) != template(after) {
        let note = "the broker pod template changed (version, image, config or overrides); \
                    brokers restart one at a time"
            .to_string();
        events::normal(ctx, &reference, "RollStarted", "Roll", note).await;
    }
}

/// `fjord.dev/roll=true` on the Cluster becomes the same annotation on each broker pod (so a
/// pod rolled once is not rolled again: its replacement comes without it), then is removed
/// from the Cluster. Returns the pods as they are afterwards.
async fn step_roll_request(cluster: &Cluster, ctx: &Context, pods: Vec<Pod>) -> Result<Vec<Pod>> {
    if !observe::roll_requested(cluster.annotations()) {
        return Ok(pods);
    }
    let names = ClusterNames::new(cluster);
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let mark = json!({"metadata": {"annotations": {ROLL_ANNOTATION: "true"}}});
    let mut out = Vec::with_capacity(pods.len());
    for pod in pods {
        let marked = pod_api
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&mark),
            )
            .await?;
        out.push(marked);
    }
    let clusters: Api<Cluster> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let unmark = json!({"metadata": {"annotations": {ROLL_ANNOTATION: null}}});
    clusters
        .patch(
            &names.cluster,
            &PatchParams::default(),
            &Patch::Merge(&unmark),
        )
        .await?;
    events::normal(
        ctx,
        &cluster.object_ref(&()),
        "RollRequested",
        "Roll",
        format!("{ROLL_ANNOTATION}=true: every broker restarts, one at a time"),
    )
    .await;
    Ok(out)
}

/// Plans the roll and performs its next step (at most one pod deletion). None when the
/// StatefulSet controller has not computed an update revision yet.
async fn step_roll(
    cluster: &Cluster,
    ctx: &Context,
    sts: &StatefulSet,
    pods: &[Pod],
    probe: &observe::Probe,
) -> Result<Option<RollAction>> {
    let Some(update_revision) = sts.status.as_ref().and_then(|s| s.update_revision.clone()) else {
        return Ok(None);
    };
    let names = ClusterNames::new(cluster);
    let states: Vec<PodState> = pods
        .iter()
        .filter_map(|p| observe::pod_state(p, &names.cluster))
        .collect();
    let needs_roll = states.iter().any(|p| {
        p.ordinal < cluster.spec.replicas && roll::roll_cause(p, &update_revision).is_some()
    });
    let partitions = match (&probe.seen, &probe.admin) {
        (Some(seen), Some(admin)) if needs_roll => match &seen.partitions {
            Some(ps) => observe::with_min_insync(admin, ps.clone()).await.ok(),
            None => None,
        },
        (Some(seen), _) => seen.partitions.clone(),
        _ => None,
    };
    let input = RollInput {
        pods: &states,
        desired: cluster.spec.replicas,
        update_revision: &update_revision,
        partitions: partitions.as_deref(),
        controller: probe.seen.as_ref().and_then(|s| s.controller),
    };
    let (action, rack_pods, why) = match cluster.spec.rollout.strategy {
        RolloutStrategy::OneAtATime => (roll::next_action(&input), Vec::new(), None),
        RolloutStrategy::RackParallel => {
            let racks: BTreeMap<i32, String> = probe
                .seen
                .as_ref()
                .map(|s| {
                    s.brokers
                        .iter()
                        .filter_map(|b| Some((b.node_id, b.rack.clone()?)))
                        .collect()
                })
                .unwrap_or_default();
            match next_rack_action(&input, &racks) {
                RackAction::DeleteRack {
                    rack,
                    pods,
                    remaining,
                } => {
                    let first = RollAction::Delete {
                        pod: pods.first().cloned().unwrap_or_default(),
                        cause: roll::RollCause::OutdatedRevision,
                        remaining,
                    };
                    (first, pods, Some(format!("rack {rack} rolls at once")))
                }
                RackAction::OneAtATime { action, why } => (action, Vec::new(), why),
            }
        }
    };
    let reference = cluster.object_ref(&());
    match &action {
        RollAction::Delete {
            pod,
            cause,
            remaining,
        } => {
            let targets = if rack_pods.is_empty() {
                vec![pod.clone()]
            } else {
                rack_pods
            };
            for target in &targets {
                delete_pod(
                    ctx,
                    &names.namespace,
                    &reference,
                    pods,
                    target,
                    *cause,
                    *remaining,
                    &update_revision,
                    why.as_deref(),
                )
                .await?;
            }
        }
        RollAction::Blocked {
            pod,
            partitions,
            remaining,
        } => {
            let note = status::blocked_message(pod, partitions, *remaining);
            events::warning(ctx, &reference, "RollBlocked", "Roll", note).await;
        }
        RollAction::Wait { .. } | RollAction::Done => {}
    }
    Ok(Some(action))
}

/// Deletes broker pod `pod` for a roll, with an Event saying why.
#[allow(clippy::too_many_arguments)]
async fn delete_pod(
    ctx: &Context,
    namespace: &str,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    pods: &[Pod],
    pod: &str,
    cause: roll::RollCause,
    remaining: usize,
    update_revision: &str,
    strategy_note: Option<&str>,
) -> Result<()> {
    let target = pods.iter().find(|p| p.name_any() == pod);
    let uid = target.and_then(|p| p.metadata.uid.clone());
    let related = target.map(|p| p.object_ref(&()));
    let params = DeleteParams {
        // Never delete a replacement that took the name in the meantime.
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    api.delete(pod, &params).await?;
    let why = match cause {
        roll::RollCause::OutdatedRevision => format!("to move it to revision {update_revision}"),
        roll::RollCause::Requested => format!("as {ROLL_ANNOTATION}=true asked"),
    };
    let strategy = strategy_note.map(|n| format!(" ({n})")).unwrap_or_default();
    let note = format!("deleted pod {pod} {why}{strategy}; {remaining} brokers left to roll");
    tracing::info!(pod = %pod, "rolling broker");
    events::publish(
        ctx,
        reference,
        EventType::Normal,
        "RollingBroker",
        "DeletePod",
        note,
        related,
    )
    .await;
    Ok(())
}

/// Applies the ServiceMonitor when enabled, deletes ours when disabled. A missing
/// ServiceMonitor CRD is reported, not treated as a failure.
async fn step_service_monitor(cluster: &Cluster, ctx: &Context) -> Result<ServiceMonitorState> {
    let names = ClusterNames::new(cluster);
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &names.namespace,
        &service_monitor_resource(),
    );
    if !cluster.spec.metrics.service_monitor.enabled {
        return match api
            .delete(&names.service_monitor(), &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(ServiceMonitorState::Disabled),
            // 404: none exists or no CRD; 403: the chart grants no ServiceMonitor access,
            // so the operator cannot have created one either.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 403 => {
                Ok(ServiceMonitorState::Disabled)
            }
            Err(e) => Err(e.into()),
        };
    }
    let desired = desired_service_monitor(cluster)?;
    match api
        .patch(
            &names.service_monitor(),
            &apply_params(),
            &Patch::Apply(&desired),
        )
        .await
    {
        Ok(_) => Ok(ServiceMonitorState::Applied),
        // Apply creates absent objects, so a 404 means the resource type itself is unknown.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(ServiceMonitorState::CrdMissing),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(ServiceMonitorState::Forbidden),
        Err(e) => Err(e.into()),
    }
}

async fn patch_status(
    cluster: &Cluster,
    ctx: &Context,
    status: &fjord_crds::ClusterStatus,
) -> Result<()> {
    let api: Api<Cluster> = Api::namespaced(
        ctx.client.clone(),
        &cluster
            .namespace()
            .ok_or(Error::MissingObjectKey("metadata.namespace"))?,
    );
    let patch = json!({
        "apiVersion": "fjord.dev/v1alpha1",
        "kind": "Cluster",
        "status": status,
    });
    api.patch_status(
        &cluster.name_any(),
        &kube::api::PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

async fn report_failure(cluster: &Cluster, ctx: &Context, error: &Error) -> Result<()> {
    let now = Time(jiff::Timestamp::now());
    let status = status::failed_status(cluster, error, &now);
    patch_status(cluster, ctx, &status).await
}
