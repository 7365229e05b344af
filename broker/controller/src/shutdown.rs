//! Controlled shutdown: a broker that wants to stop first hands its leaderships to other in-sync
//! replicas and leaves every ISR, so clients fail over before it goes, not after a session
//! timeout (Kafka's `handleBrokerInControlledShutdown`).
//!
//! The flow, driven by [`crate::Liveness::heartbeat`]: the first heartbeat with
//! `want_shutdown` from a broker that leads partitions yields
//! [`crate::LivenessEvent::ControlledShutdown`]; the caller proposes this module's
//! [`plan`]; later heartbeats answer "shut down now" once the broker leads nothing (and, if the
//! caller noted it, every active broker has applied those changes).

use crate::cluster::ClusterView;
use crate::election::remove_broker;
use crate::partition::{Partition, PartitionChange, NO_LEADER};

/// The changes for one broker's controlled shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownPlan<K> {
    /// Changes to propose: leadership moved to another active ISR member, the broker out of the
    /// ISR (unless it is the last member, see [`crate::election`]).
    pub changes: Vec<(K, PartitionChange)>,
    /// Partitions these changes take offline: the broker was their only eligible leader, so no
    /// leader could take over (log them).
    pub offline: Vec<K>,
    /// Whether the broker may stop now: it leads no partition in the state given.
    pub may_shut_down: bool,
}

/// Plans `broker`'s controlled shutdown over `partitions` (at least those that have it in the
/// ISR or as leader; others are skipped). `unclean(key)` is the topic's
/// `unclean.leader.election.enable`.
pub fn plan<'a, K: Clone + 'a>(
    cluster: &ClusterView,
    broker: i32,
    partitions: impl IntoIterator<Item = (K, &'a Partition)>,
    unclean: impl Fn(&K) -> bool,
) -> ShutdownPlan<K> {
    let mut out = ShutdownPlan {
        changes: Vec::new(),
        offline: Vec::new(),
        may_shut_down: true,
    };
    for (key, p) in partitions {
        if p.leader == broker {
            out.may_shut_down = false;
        }
        if let Some(change) = remove_broker(p, cluster, broker, unclean(&key)) {
            if change.leader == Some(NO_LEADER) {
                out.offline.push(key.clone());
            }
            out.changes.push((key, change));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::BrokerInfo;

    fn cluster(shutting_down: i32) -> ClusterView {
        ClusterView::from_brokers((1..=3).map(|id| BrokerInfo {
            id,
            rack: None,
            fenced: false,
            in_controlled_shutdown: id == shutting_down,
            epoch: 1,
        }))
    }

    fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> Partition {
        let mut p = Partition::new(replicas.to_vec(), isr.to_vec());
        p.leader = leader;
        p
    }

    #[test]
    fn leaderships_move_to_another_isr_member_and_the_broker_leaves_every_isr() {
        let parts = [
            ("a", partition(&[1, 2, 3], &[1, 2, 3], 1)),
            ("b", partition(&[2, 1], &[2, 1], 2)),
        ];
        let plan = plan(&cluster(1), 1, parts.iter().map(|(k, p)| (*k, p)), |_| {
            false
        });
        assert!(!plan.may_shut_down, "it still leads a");
        assert!(plan.offline.is_empty());
        let a = parts[0].1.apply(&plan.changes[0].1);
        assert_eq!((a.leader, a.isr.clone()), (2, vec![2, 3]));
        let b = parts[1].1.apply(&plan.changes[1].1);
        assert_eq!((b.leader, b.isr.clone()), (2, vec![2]));
    }

    #[test]
    fn a_partition_whose_only_in_sync_replica_is_leaving_goes_offline() {
        let parts = [("a", partition(&[1, 2], &[1], 1))];
        let plan = plan(&cluster(1), 1, parts.iter().map(|(k, p)| (*k, p)), |_| {
            false
        });
        assert_eq!(plan.offline, vec!["a"]);
        let a = parts[0].1.apply(&plan.changes[0].1);
        assert_eq!((a.leader, a.isr.clone()), (NO_LEADER, vec![1]));
    }

    #[test]
    fn the_broker_may_shut_down_once_it_leads_nothing() {
        let parts = [("a", partition(&[1, 2], &[1, 2], 1))];
        let first = plan(&cluster(1), 1, parts.iter().map(|(k, p)| (*k, p)), |_| {
            false
        });
        let moved = parts[0].1.apply(&first.changes[0].1);
        let second = plan(&cluster(1), 1, [("a", &moved)], |_| false);
        assert!(second.may_shut_down);
        assert!(second.changes.is_empty());
    }
}
