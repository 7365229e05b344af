//! Leader elections the active controller runs on request or on its own: ElectLeaders
//! (API 43) and the periodic preferred-leader rebalance (`auto.leader.rebalance.enable`).
//!
//! Both follow Kafka's `ReplicationControlManager` (`electLeaders`,
//! `maybeBalancePartitionLeaders`); the rules for choosing a leader are
//! `fjord_controller::election`'s. Deterministic and without I/O.

use super::decisions::{changed, cluster_view, partition_state};
use fjord_controller::election::MAX_ELECTIONS_PER_REBALANCE as MAX_PER_ROUND;
use fjord_controller::{ControllerError, ElectionType, Partition};
use fjord_metadata::{MetadataImage, MetadataRecord};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// Kafka's bound on the records one admin operation may propose (`MAX_RECORDS_PER_USER_OP`);
/// beyond it ElectLeaders fails whole with POLICY_VIOLATION.
pub const MAX_RECORDS: usize = 10_000;

/// One partition's answer to ElectLeaders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectionResult {
    pub topic: String,
    pub partition: i32,
    /// A Kafka error code (0: elected).
    pub code: i16,
    pub message: Option<String>,
}

/// ElectLeaders against `image`: the PartitionChanged records to propose and one result per
/// named partition, in request order. `partitions: None` means every partition; then, as
/// Kafka does, partitions that needed no election are left out of the results. More than
/// [`MAX_RECORDS`] changes refuse the whole request (POLICY_VIOLATION), as in Kafka.
pub fn elect_leaders(
    image: &MetadataImage,
    election_type: ElectionType,
    partitions: Option<&[(String, i32)]>,
) -> Result<(Vec<MetadataRecord>, Vec<ElectionResult>), ControllerError> {
    let mut records = Vec::new();
    let mut results = Vec::new();
    let one = |topic: &str, partition: i32, records: &mut Vec<MetadataRecord>| {
        let (code, message) = match elect_one(image, election_type, topic, partition) {
            Ok(record) => {
                records.push(record);
                (0, None)
            }
            Err(e) => (e.code(), e.message()),
        };
        ElectionResult {
            topic: topic.to_string(),
            partition,
            code,
            message,
        }
    };
    match partitions {
        Some(named) => {
            for (topic, partition) in named {
                results.push(one(topic, *partition, &mut records));
            }
        }
        None => {
            let not_needed = ControllerError::ElectionNotNeeded.code();
            for t in image.topics.values() {
                for p in 0..t.partition_count() {
                    let r = one(&t.name, p, &mut records);
                    if r.code != not_needed {
                        results.push(r);
                    }
                }
            }
        }
    }
    if records.len() > MAX_RECORDS {
        return Err(ControllerError::PolicyViolation);
    }
    Ok((records, results))
}

/// Kafka's `electLeader` for one partition: the record, or why there is none.
fn elect_one(
    image: &MetadataImage,
    election_type: ElectionType,
    topic: &str,
    partition: i32,
) -> Result<MetadataRecord, ControllerError> {
    let unknown = || {
        ControllerError::UnknownTopicOrPartition(format!(
            "No such partition as {topic}-{partition}"
        ))
    };
    let t = image.topic(topic).ok_or_else(|| {
        ControllerError::UnknownTopicOrPartition(format!("No such topic as {topic}"))
    })?;
    let state = usize::try_from(partition)
        .ok()
        .and_then(|p| partition_state(t, p))
        .ok_or_else(unknown)?;
    let cluster = cluster_view(image, None);
    let change = fjord_controller::elect_leaders(&state, &cluster, election_type)?;
    Ok(changed(t.id, partition, &state, &change))
}

/// One round of Kafka's automatic preferred-leader rebalance: a preferred election for each
/// partition whose preferred replica does not lead but is active and in the ISR, at most
/// [`MAX_PER_ROUND`]. The flag says the round stopped at the bound (run another at once).
pub fn rebalance(image: &MetadataImage) -> (Vec<MetadataRecord>, bool) {
    let cluster = cluster_view(image, None);
    let mut partitions: HashMap<(Uuid, i32), Partition> = HashMap::new();
    for t in image.topics.values() {
        for p in 0..t.replicas.len() {
            if let Some(state) = partition_state(t, p) {
                partitions.insert((t.id, p as i32), state);
            }
        }
    }
    // In the image's order (topics by name), so a bounded round is deterministic.
    let ordered = image.topics.values().flat_map(|t| {
        (0..t.partition_count()).filter_map(|p| {
            let key = (t.id, p);
            partitions.get(&key).map(|state| (key, state))
        })
    });
    let (changes, more) = fjord_controller::rebalance(&cluster, ordered, MAX_PER_ROUND);
    let records = changes
        .into_iter()
        .filter_map(|((id, partition), change)| {
            let before = partitions.get(&(id, partition))?;
            Some(changed(id, partition, before, &change))
        })
        .collect();
    (records, more)
}

/// Kafka's `PreferredReplicaImbalanceCount`: partitions whose leader is not their preferred
/// (first) replica, offline ones included.
pub fn imbalance_count(image: &MetadataImage) -> usize {
    image
        .topics
        .values()
        .map(|t| {
            (0..t.replicas.len())
                .filter(|&p| t.replicas[p].first().copied() != Some(t.leader(p)))
                .count()
        })
        .sum()
}

#[cfg(test)]
mod tests;
