//! The PodDisruptionBudget: voluntary disruptions (node drains) take one broker at a time.

use fjord_crds::Cluster;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::owned_meta;
use crate::error::Result;
use crate::names::{selector_labels, ClusterNames};

/// PodDisruptionBudget `<cluster>` with `maxUnavailable: 1`.
pub fn desired_pdb(cluster: &Cluster) -> Result<PodDisruptionBudget> {
    Ok(PodDisruptionBudget {
        metadata: owned_meta(cluster, ClusterNames::new(cluster).pdb())?,
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(cluster)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::testing::{assert_snapshot, cluster};

    #[test]
    fn pdb_matches_snapshot() {
        assert_snapshot("pdb", &desired_pdb(&cluster("version: 0.1.0\n")).unwrap());
    }

    #[test]
    fn pdb_allows_one_broker_down() {
        let p = desired_pdb(&cluster("version: 0.1.0\n")).unwrap();
        let spec = p.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(spec.min_available, None);
        assert!(p.metadata.owner_references.is_some());
    }
}
