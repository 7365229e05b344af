//! Replica placement for new partitions: which brokers hold each partition's replicas, the first
//! of them being the preferred leader.
//!
//! The goals and constraints are those of Kafka's `StripedReplicaPlacer` (KRaft), in its order
//! of priority:
//! 1. never two replicas of a partition on one broker, and the leader on an active broker
//!    (constraints: placement fails otherwise);
//! 2. spread each partition's replicas over as many racks as possible (KIP-36): a replica goes to
//!    a rack that holds none of the partition's replicas yet while one is left;
//! 3. spread leaders and replicas evenly over the brokers;
//! 4. prefer active brokers; fenced (or shutting down) brokers take followers only when a rack
//!    has no active broker left, and never the leader.
//!
//! One difference, on purpose: Kafka's placer stripes from a random offset and ignores the
//! replicas already in the cluster, so partitions added to an existing topic (or a topic created
//! after a broker joined) can pile onto the same brokers. Here each choice takes the broker with
//! the fewest leaders (for the first replica) or replicas (for the others), counting the
//! [`Load`] the caller passes plus what this call already placed; ties go round-robin from an
//! offset derived from the caller's seed, which gives Kafka's striped pattern on an empty
//! cluster. The same cluster, load and seed always give the same placement.

use std::collections::BTreeMap;

use crate::cluster::{BrokerInfo, ClusterView};
use crate::error::ControllerError;

/// Kafka's `MAX_RECORDS_PER_USER_OP`: one request may not create more partitions than this.
pub const MAX_PARTITIONS_PER_REQUEST: usize = 10_000;

/// Replicas and preferred leaderships already assigned to each broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Load {
    replicas: BTreeMap<i32, u64>,
    leaders: BTreeMap<i32, u64>,
}

impl Load {
    /// No load anywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// The load of these replica lists (every existing partition of the cluster, say).
    pub fn from_assignments<I>(assignments: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<[i32]>,
    {
        let mut load = Self::new();
        for replicas in assignments {
            load.add(replicas.as_ref());
        }
        load
    }

    /// Counts one partition: a replica on each broker listed, the leadership on the first.
    pub fn add(&mut self, replicas: &[i32]) {
        for &b in replicas {
            *self.replicas.entry(b).or_default() += 1;
        }
        if let Some(&leader) = replicas.first() {
            *self.leaders.entry(leader).or_default() += 1;
        }
    }

    /// Replicas on this broker.
    pub fn replicas(&self, broker: i32) -> u64 {
        self.replicas.get(&broker).copied().unwrap_or(0)
    }

    /// Preferred leaderships on this broker.
    pub fn leaders(&self, broker: i32) -> u64 {
        self.leaders.get(&broker).copied().unwrap_or(0)
    }
}

/// What to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementRequest {
    /// How many partitions.
    pub partitions: u32,
    /// Replicas per partition.
    pub replication_factor: i16,
    /// Chooses the round-robin start among equally loaded brokers; any value is valid.
    pub seed: u64,
}

/// Places `request.partitions` partitions on the registered brokers of `cluster`, given the
/// existing `load`. Returns one replica list per partition, the preferred leader first.
///
/// Errors, with the messages of Kafka's placer (CreateTopics prefixes them, see
/// [`crate::assignment::create_topic`]): INVALID_REPLICATION_FACTOR when the factor is not
/// positive, when every broker is fenced or shutting down, or when it exceeds the registered
/// brokers (Kafka counts fenced brokers as registered too); POLICY_VIOLATION beyond
/// [`MAX_PARTITIONS_PER_REQUEST`].
pub fn place(
    cluster: &ClusterView,
    request: &PlacementRequest,
    load: &Load,
) -> Result<Vec<Vec<i32>>, ControllerError> {
    let rf = request.replication_factor;
    if rf <= 0 {
        return Err(ControllerError::InvalidReplicationFactor(format!(
            "Invalid replication factor {rf}: the replication factor must be positive."
        )));
    }
    let brokers: Vec<&BrokerInfo> = cluster.brokers().collect();
    if !brokers.iter().any(|b| b.is_active()) {
        return Err(ControllerError::InvalidReplicationFactor(
            "All brokers are currently fenced.".to_string(),
        ));
    }
    let rf = usize::from(rf.unsigned_abs());
    if rf > brokers.len() {
        return Err(ControllerError::InvalidReplicationFactor(format!(
            "The target replication factor of {rf} cannot be reached because only {} broker(s) \
             are registered.",
            brokers.len()
        )));
    }
    let count = usize::try_from(request.partitions).unwrap_or(usize::MAX);
    if count > MAX_PARTITIONS_PER_REQUEST {
        return Err(ControllerError::PolicyViolation);
    }
    let n = brokers.len();
    // `n` is at least 1 here (some broker is active), so the modulo is defined.
    let start = usize::try_from(request.seed % n as u64).unwrap_or(0);
    let mut load = load.clone();
    let mut placements = Vec::new();
    for partition in 0..count {
        let rotation = (start + partition) % n;
        let replicas = place_one(&brokers, rf, rotation, &load);
        load.add(&replicas);
        placements.push(replicas);
    }
    Ok(placements)
}

/// One partition. `rotation` ranks equally loaded brokers: the broker at index `rotation` (in id
/// order) first, then the following ones, wrapping around.
fn place_one(brokers: &[&BrokerInfo], rf: usize, rotation: usize, load: &Load) -> Vec<i32> {
    let n = brokers.len();
    let rank = |i: usize| (i + n - rotation) % n;
    let mut chosen: Vec<usize> = Vec::with_capacity(rf);
    // `place` checked that some broker is active, so there is a leader.
    if let Some(leader) = (0..n).filter(|&i| brokers[i].is_active()).min_by_key(|&i| {
        (
            load.leaders(brokers[i].id),
            load.replicas(brokers[i].id),
            rank(i),
        )
    }) {
        chosen.push(leader);
    }
    while chosen.len() < rf {
        let on_rack = |i: usize| {
            chosen
                .iter()
                .filter(|&&c| brokers[c].rack == brokers[i].rack)
                .count()
        };
        // Rack spread first, then active before fenced, then load, then the rotation: Kafka's
        // priorities (see the module doc).
        let next = (0..n).filter(|i| !chosen.contains(i)).min_by_key(|&i| {
            (
                on_rack(i),
                !brokers[i].is_active(),
                load.replicas(brokers[i].id),
                rank(i),
            )
        });
        match next {
            Some(i) => chosen.push(i),
            // Unreachable: `place` checked rf <= n.
            None => break,
        }
    }
    chosen.into_iter().map(|i| brokers[i].id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn broker(id: i32, rack: Option<&str>, fenced: bool) -> BrokerInfo {
        BrokerInfo {
            id,
            rack: rack.map(str::to_string),
            fenced,
            in_controlled_shutdown: false,
            epoch: 1,
        }
    }

    fn request(partitions: u32, rf: i16, seed: u64) -> PlacementRequest {
        PlacementRequest {
            partitions,
            replication_factor: rf,
            seed,
        }
    }

    fn three_racks_of_two() -> ClusterView {
        ClusterView::from_brokers((0..6).map(|id| {
            let rack = ["a", "b", "c"][(id % 3) as usize];
            broker(id, Some(rack), false)
        }))
    }

    #[test]
    fn a_partition_never_has_two_replicas_on_one_broker() {
        let cluster = three_racks_of_two();
        for rf in 1..=6 {
            for p in place(&cluster, &request(20, rf, 7), &Load::new()).unwrap() {
                assert_eq!(p.iter().collect::<BTreeSet<_>>().len(), p.len(), "{p:?}");
                assert_eq!(p.len(), rf as usize);
            }
        }
    }

    #[test]
    fn replicas_of_a_partition_land_on_distinct_racks_when_there_are_enough() {
        let cluster = three_racks_of_two();
        for seed in 0..10 {
            for p in place(&cluster, &request(12, 3, seed), &Load::new()).unwrap() {
                let racks: BTreeSet<_> = p.iter().map(|&b| cluster.rack(b)).collect();
                assert_eq!(racks.len(), 3, "{p:?}");
            }
        }
    }

    #[test]
    fn leaders_and_replicas_are_balanced_across_brokers() {
        let cluster = three_racks_of_two();
        let placed = place(&cluster, &request(12, 2, 3), &Load::new()).unwrap();
        let load = Load::from_assignments(&placed);
        for b in 0..6 {
            assert_eq!(load.leaders(b), 2, "{placed:?}");
            assert_eq!(load.replicas(b), 4, "{placed:?}");
        }
    }

    #[test]
    fn the_leader_is_never_a_fenced_broker_and_fenced_brokers_are_used_last() {
        let cluster = ClusterView::from_brokers([
            broker(1, None, true),
            broker(2, None, false),
            broker(3, None, false),
        ]);
        for p in place(&cluster, &request(9, 2, 5), &Load::new()).unwrap() {
            assert_ne!(p[0], 1);
            assert!(!p.contains(&1), "an active broker was free: {p:?}");
        }
        for p in place(&cluster, &request(9, 3, 5), &Load::new()).unwrap() {
            assert_ne!(p[0], 1);
        }
    }

    #[test]
    fn new_partitions_go_to_the_least_loaded_brokers() {
        let cluster = ClusterView::from_brokers((1..=4).map(|id| broker(id, None, false)));
        // Brokers 1 and 2 already lead and hold everything.
        let load = Load::from_assignments([[1, 2], [2, 1], [1, 2], [2, 1]]);
        let placed = place(&cluster, &request(2, 2, 0), &load).unwrap();
        for p in &placed {
            assert!(p.iter().all(|b| *b == 3 || *b == 4), "{placed:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_placement_and_seeds_vary_the_start() {
        let cluster = three_racks_of_two();
        let a = place(&cluster, &request(5, 3, 11), &Load::new()).unwrap();
        assert_eq!(
            a,
            place(&cluster, &request(5, 3, 11), &Load::new()).unwrap()
        );
        let firsts: BTreeSet<i32> = (0..6)
            .map(|seed| place(&cluster, &request(1, 1, seed), &Load::new()).unwrap()[0][0])
            .collect();
        assert_eq!(firsts.len(), 6);
    }

    #[test]
    fn a_factor_above_the_registered_brokers_is_invalid_replication_factor() {
        let cluster = ClusterView::from_brokers([broker(1, None, false), broker(2, None, true)]);
        let err = place(&cluster, &request(1, 3, 0), &Load::new()).unwrap_err();
        assert_eq!(err.code(), 38);
        assert_eq!(
            err.to_string(),
            "The target replication factor of 3 cannot be reached because only 2 broker(s) are \
             registered."
        );
    }

    #[test]
    fn no_active_broker_or_a_non_positive_factor_is_invalid_replication_factor() {
        let fenced = ClusterView::from_brokers([broker(1, None, true)]);
        let err = place(&fenced, &request(1, 1, 0), &Load::new()).unwrap_err();
        assert_eq!(err.to_string(), "All brokers are currently fenced.");
        let ok = ClusterView::from_brokers([broker(1, None, false)]);
        let err = place(&ok, &request(1, 0, 0), &Load::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid replication factor 0: the replication factor must be positive."
        );
    }

    #[test]
    fn more_partitions_than_one_request_may_create_is_a_policy_violation() {
        let cluster = ClusterView::from_brokers([broker(1, None, false)]);
        let err = place(&cluster, &request(10_001, 1, 0), &Load::new()).unwrap_err();
        assert_eq!(err.code(), 44);
    }
}
