//! Server-side apply with the operator's single field manager.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::names::FIELD_MANAGER;

/// Patch parameters of every apply: our field manager, forcing ownership of the fields we set
/// (the operator is the authority on the objects it creates).
pub fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Applies `desired` into its namespace and returns the object as the API server stored it.
/// `step` names the reconcile step in logs.
pub async fn apply<K>(client: &kube::Client, step: &'static str, desired: &K) -> Result<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let meta = desired.meta();
    let name = meta
        .name
        .as_deref()
        .ok_or(Error::MissingObjectKey("metadata.name"))?;
    let namespace = meta
        .namespace
        .as_deref()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    tracing::debug!(step, name, namespace, "applying");
    Ok(api
        .patch(name, &apply_params(), &Patch::Apply(desired))
        .await?)
}
