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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::BrokerInfo;
    use crate::partition::NO_LEADER;

    fn cluster(fenced: &[i32]) -> ClusterView {
        ClusterView::from_brokers((1..=3).map(|id| BrokerInfo {
            id,
            rack: None,
            fenced: fenced.contains(&id),
            in_controlled_shutdown: false,
            epoch: 1,
        }))
    }

    #[test]
    fn a_fenced_broker_leaves_every_isr_and_leadership() {
        let parts = [
            Partition::new(vec![1, 2], vec![1, 2]),
            Partition::new(vec![2, 1], vec![2, 1]),
            Partition::new(vec![2, 3], vec![2, 3]),
        ];
        let event = LivenessEvent::Fenced {
            broker_id: 1,
            epoch: 1,
            reason: crate::FenceReason::SessionExpired,
        };
        let changes =
            partition_changes(&event, &cluster(&[1]), parts.iter().enumerate(), |_| false);
        let keys: Vec<usize> = changes.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec![0, 1], "partition 2 does not involve broker 1");
        assert_eq!(changes[0].1.leader, Some(2));
        assert_eq!(changes[1].1.isr, Some(vec![2]));
    }

    #[test]
    fn an_unfenced_broker_takes_back_the_partitions_it_was_the_last_in_sync_replica_of() {
        let mut offline = Partition::new(vec![1, 2], vec![1]);
        offline.leader = NO_LEADER;
        let online = Partition::new(vec![2, 1], vec![2]);
        let event = LivenessEvent::Unfenced {
            broker_id: 1,
            epoch: 1,
        };
        let parts = [offline, online];
        let changes =
            partition_changes(&event, &cluster(&[1]), parts.iter().enumerate(), |_| false);
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].0, changes[0].1.leader), (0, Some(1)));
    }

    #[test]
    fn a_registration_changes_no_partition() {
        let registered = LivenessEvent::Registered(crate::BrokerRegistration {
            info: cluster(&[])
                .get(1)
                .cloned()
                .expect("broker 1 is in the view"),
            incarnation_id: 1,
            listeners: vec![],
        });
        let parts = [Partition::new(vec![1], vec![1])];
        let changes =
            partition_changes(&registered, &cluster(&[]), parts.iter().enumerate(), |_| {
                false
            });
        assert!(changes.is_empty());
    }
}
