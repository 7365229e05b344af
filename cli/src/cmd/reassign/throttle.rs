//! Replication throttles around a reassignment, as `kafka-reassign-partitions.sh` drives them:
//! `execute --throttle` sets the rate on every broker a move involves and lists the moving
//! replicas in the topics' throttled-replica configs (the leader side on the replicas data is
//! copied from, the follower side on the replicas it is copied to); `verify` and `cancel` take
//! them off again. The brokers apply a throttle only to replicas out of the ISR (KIP-73), so
//! in-sync replication is never slowed.

use std::collections::{BTreeMap, BTreeSet};

use fjord_client::{AdminClient, OngoingReassignment};
use serde::Serialize;

use super::PlannedPartition;

/// Broker configs: the byte rates of each side.
pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
/// Topic configs: the replicas each side throttles, `partition:broker,...`.
pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

/// One partition's move (Kafka's `PartitionMove`): the replicas it has before the move, and
/// those the target adds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Move {
    sources: BTreeSet<i32>,
    destinations: BTreeSet<i32>,
}

/// What `execute --throttle` sets: the topic configs by topic and the brokers that get the
/// rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Throttles {
    /// Bytes per second, each side, on each broker.
    pub rate: u64,
    pub brokers: Vec<i32>,
    /// `leader.replication.throttled.replicas` by topic.
    pub leader_replicas: BTreeMap<String, String>,
    /// `follower.replication.throttled.replicas` by topic.
    pub follower_replicas: BTreeMap<String, String>,
}

impl Throttles {
    /// The throttles for moving `plan`'s partitions from `current` (each partition's replicas
    /// now, by topic and partition), given the reassignments `ongoing`: a partition already
    /// moving copies from its replicas before that move (Kafka's `calculateProposedMoveMap`),
    /// so the replicas still catching up are not taken for sources. A partition missing from
    /// `current` is left out (the cluster refuses to move it). Unlike Kafka, a partition whose
    /// target adds no replica throttles nothing: no data is copied for it, and a leader
    /// throttle there would only slow down an existing follower that fell behind.
    pub fn plan(
        rate: u64,
        plan: &[PlannedPartition],
        current: &BTreeMap<(String, i32), Vec<i32>>,
        ongoing: &[OngoingReassignment],
    ) -> Throttles {
        let mut moves: BTreeMap<&str, BTreeMap<i32, Move>> = BTreeMap::new();
        for p in plan {
            let key = (p.topic.clone(), p.partition);
            let sources: BTreeSet<i32> = match ongoing
                .iter()
                .find(|o| o.topic == p.topic && o.partition == p.partition)
            {
                Some(o) => o
                    .replicas
                    .iter()
                    .filter(|r| !o.adding.contains(r))
                    .copied()
                    .collect(),
                None => match current.get(&key) {
                    Some(replicas) => replicas.iter().copied().collect(),
                    None => continue,
                },
            };
            let destinations: BTreeSet<i32> = p
                .replicas
                .iter()
                .filter(|r| !sources.contains(r))
                .copied()
                .collect();
            if destinations.is_empty() {
                continue;
            }
            moves.entry(&p.topic).or_default().insert(
                p.partition,
                Move {
                    sources,
                    destinations,
                },
            );
        }
        let listed = |side: fn(&Move) -> &BTreeSet<i32>| -> BTreeMap<String, String> {
            moves
                .iter()
                .map(|(topic, partitions)| {
                    let pairs: Vec<String> = partitions
                        .iter()
                        .flat_map(|(p, m)| side(m).iter().map(move |b| format!("{p}:{b}")))
                        .collect();
                    ((*topic).to_owned(), pairs.join(","))
                })
                .collect()
        };
        let brokers: BTreeSet<i32> = moves
            .values()
            .flat_map(|partitions| partitions.values())
            .flat_map(|m| m.sources.iter().chain(&m.destinations).copied())
            .collect();
        Throttles {
            rate,
            brokers: brokers.into_iter().collect(),
            leader_replicas: listed(|m| &m.sources),
            follower_replicas: listed(|m| &m.destinations),
        }
    }

    /// Sets the topic configs, then the brokers' rates (each one IncrementalAlterConfigs SET,
    /// replacing any value there was, as Kafka's tool does).
    pub async fn apply(&self, admin: &AdminClient) -> anyhow::Result<()> {
        for (topic, leader) in &self.leader_replicas {
            let mut set = BTreeMap::from([(LEADER_REPLICAS.to_owned(), leader.clone())]);
            if let Some(follower) = self.follower_replicas.get(topic) {
                set.insert(FOLLOWER_REPLICAS.to_owned(), follower.clone());
            }
            admin
                .alter_topic_configs(topic, &set, &[])
                .await
                .map_err(|e| anyhow::anyhow!("throttling the replicas of {topic}: {e}"))?;
        }
        let rate = self.rate.to_string();
        let set = BTreeMap::from([
            (LEADER_RATE.to_owned(), rate.clone()),
            (FOLLOWER_RATE.to_owned(), rate),
        ]);
        for broker in &self.brokers {
            admin
                .alter_broker_configs(*broker, &set, &[])
                .await
                .map_err(|e| anyhow::anyhow!("setting broker {broker}'s throttle: {e}"))?;
        }
        Ok(())
    }
}

/// What [`clear`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cleared {
    pub brokers: Vec<i32>,
    pub topics: Vec<String>,
}

/// Deletes the throttle rates of every broker in the cluster and the throttled-replica lists
/// of `topics`. Every broker, as Kafka's `clearAllThrottles` does: the brokers an earlier
/// `execute` throttled cannot be known from the plan alone once the replicas have moved.
pub async fn clear(admin: &AdminClient, topics: BTreeSet<String>) -> anyhow::Result<Cleared> {
    let rates = [LEADER_RATE.to_owned(), FOLLOWER_RATE.to_owned()];
    let brokers: Vec<i32> = admin
        .describe_cluster()
        .await?
        .brokers
        .iter()
        .map(|b| b.node_id)
        .collect();
    for broker in &brokers {
        admin
            .alter_broker_configs(*broker, &BTreeMap::new(), &rates)
            .await
            .map_err(|e| anyhow::anyhow!("clearing broker {broker}'s throttle: {e}"))?;
    }
    let lists = [LEADER_REPLICAS.to_owned(), FOLLOWER_REPLICAS.to_owned()];
    for topic in &topics {
        admin
            .alter_topic_configs(topic, &BTreeMap::new(), &lists)
            .await
            .map_err(|e| anyhow::anyhow!("clearing the throttled replicas of {topic}: {e}"))?;
    }
    Ok(Cleared {
        brokers,
        topics: topics.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::part;
    use super::*;

    fn current(parts: &[(&str, i32, &[i32])]) -> BTreeMap<(String, i32), Vec<i32>> {
        parts
            .iter()
            .map(|(t, p, r)| (((*t).to_owned(), *p), r.to_vec()))
            .collect()
    }

    #[test]
    fn leaders_are_throttled_on_the_current_replicas_and_followers_on_the_added_ones() {
        let plan = [
            part("a", 0, &[3, 4, 1]),
            part("a", 1, &[2]),
            part("b", 0, &[1, 2]),
        ];
        let now = current(&[("a", 0, &[1, 2, 3]), ("a", 1, &[1]), ("b", 0, &[2, 3])]);
        let t = Throttles::plan(1000, &plan, &now, &[]);
        assert_eq!(t.leader_replicas["a"], "0:1,0:2,0:3,1:1");
        assert_eq!(t.follower_replicas["a"], "0:4,1:2");
        assert_eq!(t.leader_replicas["b"], "0:2,0:3");
        assert_eq!(t.follower_replicas["b"], "0:1");
        assert_eq!(t.brokers, vec![1, 2, 3, 4]);
        assert_eq!(t.rate, 1000);
    }

    #[test]
    fn a_partition_that_adds_no_replica_or_does_not_exist_throttles_nothing() {
        let plan = [
            part("a", 0, &[1]),
            part("a", 1, &[2, 1]),
            part("gone", 0, &[5]),
        ];
        let now = current(&[("a", 0, &[1, 2]), ("a", 1, &[1, 2])]);
        let t = Throttles::plan(1000, &plan, &now, &[]);
        assert!(t.leader_replicas.is_empty() && t.follower_replicas.is_empty());
        assert!(t.brokers.is_empty());
    }

    #[test]
    fn a_partition_already_moving_copies_from_its_replicas_before_that_move() {
        // Moving from [1, 2] to [3, 4]: the replicas are [3, 4, 1, 2] with 3 and 4 adding.
        let ongoing = [OngoingReassignment {
            topic: "a".into(),
            partition: 0,
            replicas: vec![3, 4, 1, 2],
            adding: vec![3, 4],
            removing: vec![1, 2],
        }];
        let plan = [part("a", 0, &[4, 5])];
        let now = current(&[("a", 0, &[3, 4, 1, 2])]);
        let t = Throttles::plan(1000, &plan, &now, &ongoing);
        assert_eq!(t.leader_replicas["a"], "0:1,0:2");
        assert_eq!(t.follower_replicas["a"], "0:4,0:5");
        assert_eq!(t.brokers, vec![1, 2, 4, 5]);
    }
}
