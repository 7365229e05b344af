//! Wiring the controllers to their watches.

use std::sync::Arc;

use fjord_crds::{Cluster, Topic};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::{watcher, Controller};
use kube::Api;

use crate::context::Context;
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
        let cfg = watcher::Config::default();
        let clusters = Controller::new(api::<Cluster>(&client, ns), cfg.clone())
            .owns(api::<StatefulSet>(&client, ns), cfg.clone())
            .owns(api::<ConfigMap>(&client, ns), cfg.clone())
            .owns(api::<Service>(&client, ns), cfg.clone())
            .owns(api::<PodDisruptionBudget>(&client, ns), cfg.clone())
            .shutdown_on_signal()
            .run(cluster::reconcile, cluster::error_policy, ctx.clone())
            .for_each(|_| futures::future::ready(()));
        let topics = Controller::new(api::<Topic>(&client, ns), cfg)
            .shutdown_on_signal()
            .run(topic::reconcile, topic::error_policy, ctx.clone())
            .for_each(|_| futures::future::ready(()));
        tasks.push(tokio::spawn(clusters));
        tasks.push(tokio::spawn(topics));
    }
    futures::future::join_all(tasks).await;
}
