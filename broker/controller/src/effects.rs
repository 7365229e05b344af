//! The partition changes that follow a [`LivenessEvent`], over the caller's partitions: one
//! call instead of matching each event to the right function of [`crate::election`] or
//! [`crate::shutdown`].

use crate::cluster::ClusterView;
use crate::election::{on_broker_unfenced, remove_broker};
use crate::liveness::LivenessEvent;
use crate::partition::{Partition, PartitionChange};

/// The changes to propose with `event` (see each [`LivenessEvent`] variant for where they go
/// relative to the event's own record). `cluster` is the view after the event
/// ([`crate::Liveness::cluster_view`]); `unclean(key)` is the topic's
/// `unclean.leader.election.enable`.
pub fn partition_changes<'a, K: Clone + 'a>(
    event: &LivenessEvent,
    cluster: &ClusterView,
    partitions: impl IntoIterator<Item = (K, &'a Partition)>,
    unclean: impl Fn(&K) -> bool,
) -> Vec<(K, PartitionChange)> {
    let change = |key: &K, p: &Partition| match *event {
        LivenessEvent::Fenced { broker_id, .. }
        | LivenessEvent::ControlledShutdown { broker_id, .. }
        | LivenessEvent::Unregistered { broker_id, .. } => {
            remove_broker(p, cluster, broker_id, unclean(key))
        }
        LivenessEvent::Unfenced { broker_id, .. } => {
            on_broker_unfenced(p, cluster, broker_id, unclean(key))
        }
        LivenessEvent::Registered(_) => None,
    };
    partitions
        .into_iter()
        .filter_map(|(key, p)| change(&key, p).map(|c| (key, c)))
        .collect()
}
