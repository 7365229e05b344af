//! Wiring the controllers to their watches.

use std::sync::Arc;

use fjord_crds::{Cluster, Topic};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller};
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::names::{FIELD_MANAGER, INSTANCE_LABEL, MANAGED_BY_LABEL};
use crate::{cluster, topic};

fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Watches of the kinds the operator creates see only objects it labelled as its own, so the
/// operator does not cache every ConfigMap, Service and Pod of the namespaces it watches.
pub fn owned_watch_config() -> watcher::Config {
    watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={FIELD_MANAGER}"))
}

/// The Cluster a broker pod belongs to (its instance label), if any.
fn cluster_of_pod(pod: Pod) -> Option<ObjectRef<Cluster>> {
    let name = pod.labels().get(INSTANCE_LABEL)?.clone();
    let ns = pod.namespace()?;
    Some(ObjectRef::new(&name).within(&ns))
}

/// Runs a Cluster and a Topic controller per namespace in `namespaces` (one of each over all
/// namespaces when empty) until they stop.
pub async fn controllers(client: kube::Client, namespaces: &[String], ctx: Arc<Context>) {
    let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    let mut tasks = Vec::new();
    for ns in scopes {
        let owned = owned_watch_config();
        let clusters = Controller::new(api::<Cluster>(&client, ns), watcher::Config::default())
            .owns(api::<StatefulSet>(&client, ns), owned.clone())
            .owns(api::<ConfigMap>(&client, ns), owned.clone())
            .owns(api::<Service>(&client, ns), owned.clone())
            .owns(api::<PodDisruptionBudget>(&client, ns), owned.clone())
            // Pods belong to the StatefulSet, not the Cluster; their readiness and revision
            // drive rolls and status.
            .watches(api::<Pod>(&client, ns), owned, cluster_of_pod)
            .shutdown_on_signal()
            .run(cluster::reconcile, cluster::error_policy, ctx.clone())
            .for_each(|_| futures::future::ready(()));
        let topics = Controller::new(api::<Topic>(&client, ns), watcher::Config::default())
            .shutdown_on_signal()
            .run(topic::reconcile, topic::error_policy, ctx.clone())
            .for_each(|_| futures::future::ready(()));
        tasks.push(tokio::spawn(clusters));
        tasks.push(tokio::spawn(topics));
    }
    futures::future::join_all(tasks).await;
}
