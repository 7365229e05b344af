//! The Cluster controller.
//!
//! A reconcile is the list of named steps in [`reconcile`]: each builds an object with a pure
//! `desired_*()` function and server-side applies it. Then the status, computed by the pure
//! [`status::cluster_status`], is applied to the status subresource.
//!
//! Rolling upgrades and scaling (DESIGN §4) belong between the StatefulSet step and the status
//! step: the StatefulSet uses `OnDelete`, so a new pod template only reaches a pod when a roll
//! planner deletes it, and the status already carries `currentRevision`/`updateRevision`.

pub mod observe;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_crds::Cluster;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch};
use kube::runtime::controller::Action;
use kube::ResourceExt;
use serde_json::json;

use crate::apply::{apply, apply_params};
use crate::context::Context;
use crate::desired::configmap::desired_configmap;
use crate::desired::pdb::desired_pdb;
use crate::desired::service::{desired_client_service, desired_headless_service};
use crate::desired::servicemonitor::{desired_service_monitor, service_monitor_resource};
use crate::desired::statefulset::desired_statefulset;
use crate::error::{Error, Result};
use crate::names::{ClusterNames, FIELD_MANAGER};
use status::{cluster_status, ServiceMonitorState, SpecProblem};

/// Controller name in metrics and logs.
pub const CONTROLLER: &str = "cluster";

/// Entry point for `kube::runtime::Controller`.
pub async fn reconcile(cluster: Arc<Cluster>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let result = reconcile_steps(&cluster, &ctx).await;
    ctx.metrics.observe(CONTROLLER, &result, started.elapsed());
    if let Err(e) = &result {
        tracing::warn!(cluster = %cluster.name_any(), error = %e, reason = e.reason(), "reconcile failed");
        // Best effort: the error is what matters, a failed status write is retried next time.
        let _ = report_failure(&cluster, &ctx, e).await;
    }
    result
}

/// Requeue with backoff after an error.
pub fn error_policy(_cluster: Arc<Cluster>, _error: &Error, _ctx: Arc<Context>) -> Action {
    Action::requeue(Duration::from_secs(15))
}

async fn reconcile_steps(cluster: &Cluster, ctx: &Context) -> Result<Action> {
    let client = &ctx.client;
    if let Some(problem) = SpecProblem::of(&cluster.spec) {
        // Applying would roll pods into a broker that refuses to start: stop and say why.
        write_status(
            cluster,
            ctx,
            None,
            ServiceMonitorState::Disabled,
            None,
            Some(problem),
        )
        .await?;
        return Ok(Action::await_change());
    }

    apply(client, "configmap", &desired_configmap(cluster)?).await?;
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
        &desired_statefulset(cluster, &ctx.settings)?,
    )
    .await?;
    apply(client, "pod-disruption-budget", &desired_pdb(cluster)?).await?;
    let service_monitor = step_service_monitor(cluster, ctx).await?;

    let ready = sts
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let brokers = if ready > 0 {
        observe::brokers(cluster, ctx).await
    } else {
        None
    };
    let all_ready = ready == cluster.spec.replicas;
    write_status(cluster, ctx, Some(&sts), service_monitor, brokers, None).await?;
    // Broker-side facts (controller, under-replicated partitions) change without any watch event.
    Ok(Action::requeue(Duration::from_secs(if all_ready {
        60
    } else {
        10
    })))
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

async fn write_status(
    cluster: &Cluster,
    ctx: &Context,
    sts: Option<&k8s_openapi::api::apps::v1::StatefulSet>,
    service_monitor: ServiceMonitorState,
    brokers: Option<observe::BrokerObservation>,
    problem: Option<SpecProblem>,
) -> Result<()> {
    let now = Time(jiff::Timestamp::now());
    let status = cluster_status(cluster, sts, service_monitor, brokers, problem, &now);
    patch_status(cluster, ctx, &status).await
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
