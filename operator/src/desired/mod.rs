//! Pure builders: Cluster spec in, the Kubernetes object the operator applies out.
//!
//! No builder does I/O, so each is unit tested (with a committed YAML snapshot) without a cluster.

pub mod configmap;
pub mod pdb;
pub mod quorum;
pub mod service;
pub mod servicemonitor;
pub mod statefulset;

#[cfg(test)]
pub(crate) mod testing;

use fjord_crds::Cluster;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use crate::error::{Error, Result};
use crate::names::{labels, ClusterNames};

/// Operator-wide settings the builders need besides the Cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Image repository used with `spec.version` as tag when `spec.image` is unset.
    pub image_repository: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            image_repository: "ghcr.io/fjord/fjord-broker".into(),
        }
    }
}

/// Metadata of an object owned by `cluster`: name, namespace, recommended labels and a controller
/// owner reference, so Kubernetes garbage-collects it with the Cluster. `blockOwnerDeletion`
/// makes a foreground deletion of the Cluster wait until its brokers' objects are gone.
pub fn owned_meta(cluster: &Cluster, name: String) -> Result<ObjectMeta> {
    let mut owner = cluster
        .controller_owner_ref(&())
        .ok_or(Error::MissingObjectKey("metadata.uid"))?;
    owner.block_owner_deletion = Some(true);
    Ok(ObjectMeta {
        name: Some(name),
        namespace: Some(ClusterNames::new(cluster).namespace),
        labels: Some(labels(cluster)),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    })
}
