//! CreateTopics and CreatePartitions: a topic's new partitions from either a manual replica
//! assignment (validated) or [`crate::placement::place`], with the checks, order of checks, error
//! codes and messages of Kafka's `ReplicationControlManager`.
//!
//! The result is the partitions' initial state: the ISR is the active replicas in assignment
//! order, the leader its first member, epochs 0. A partition whose replicas are all fenced or
//! shutting down is refused, so every new partition starts with a leader.

use std::collections::BTreeMap;

use crate::cluster::ClusterView;
use crate::error::ControllerError;
use crate::partition::Partition;
use crate::placement::{place, Load, PlacementRequest, MAX_PARTITIONS_PER_REQUEST};

/// One CreateTopics topic, as the request carries it (-1 = the broker default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// `num_partitions` (-1 for `num.partitions`; must be -1 with manual assignments).
    pub num_partitions: i32,
    /// `replication_factor` (-1 for `default.replication.factor`; must be -1 with manual
    /// assignments).
    pub replication_factor: i16,
    /// `assignments`: (partition index, broker ids). Empty means "place them for me".
    pub assignments: Vec<(i32, Vec<i32>)>,
}

/// The broker defaults a CreateTopics request may ask for with -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicDefaults {
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub replication_factor: i16,
}

/// The partitions of a new topic, in partition order.
///
/// `seed` and `load` go to the placer (see [`crate::placement`]); pass the replica lists of every
/// existing partition in the cluster as `load` so new topics fill the emptier brokers.
pub fn create_topic(
    cluster: &ClusterView,
    topic: &NewTopic,
    defaults: &TopicDefaults,
    seed: u64,
    load: &Load,
) -> Result<Vec<Partition>, ControllerError> {
    if !topic.assignments.is_empty() {
        return create_manual_topic(cluster, topic);
    }
    if topic.replication_factor < -1 || topic.replication_factor == 0 {
        return Err(ControllerError::InvalidReplicationFactor(
            "Replication factor must be larger than 0, or -1 to use the default value.".to_string(),
        ));
    }
    if topic.num_partitions < -1 || topic.num_partitions == 0 {
        return Err(ControllerError::InvalidPartitions(
            "Number of partitions was set to an invalid non-positive value.".to_string(),
        ));
    }
    let partitions = match topic.num_partitions {
        -1 => defaults.num_partitions,
        n => n,
    };
    let rf = match topic.replication_factor {
        -1 => defaults.replication_factor,
        n => n,
    };
    let unable = |why: String| {
        ControllerError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {rf} time(s): {why}"
        ))
    };
    let request = PlacementRequest {
        partitions: u32::try_from(partitions).unwrap_or(0),
        replication_factor: rf,
        seed,
    };
    let placed = place(cluster, &request, load).map_err(|e| match e {
        ControllerError::InvalidReplicationFactor(why) => unable(why),
        other => other,
    })?;
    placed
        .into_iter()
        .map(|replicas| initial(cluster, replicas).ok_or_else(|| unable(ALL_FENCED.to_string())))
        .collect()
}

const ALL_FENCED: &str = "All brokers are currently fenced or in controlled shutdown.";

fn create_manual_topic(
    cluster: &ClusterView,
    topic: &NewTopic,
) -> Result<Vec<Partition>, ControllerError> {
    if topic.replication_factor != -1 {
        return Err(ControllerError::InvalidRequest(
            "A manual partition assignment was specified, but replication factor was not set \
             to -1."
                .to_string(),
        ));
    }
    if topic.num_partitions != -1 {
        return Err(ControllerError::InvalidRequest(
            "A manual partition assignment was specified, but numPartitions was not set to -1."
                .to_string(),
        ));
    }
    if topic.assignments.len() > MAX_PARTITIONS_PER_REQUEST {
        return Err(ControllerError::PolicyViolation);
    }
    let mut parts: BTreeMap<i32, Partition> = BTreeMap::new();
    let mut rf = None;
    for (index, brokers) in &topic.assignments {
        if parts.contains_key(index) {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "Found multiple manual partition assignments for partition {index}"
            )));
        }
        validate_manual_assignment(cluster, brokers, rf)?;
        rf = Some(brokers.len());
        let partition = initial(cluster, brokers.clone()).ok_or_else(|| {
            ControllerError::InvalidReplicaAssignment(format!(
                "All brokers specified in the manual partition assignment for partition {index} \
                 are fenced or in controlled shutdown."
            ))
        })?;
        parts.insert(*index, partition);
    }
    // Indexes are unique, so 0..len all present means exactly 0..len.
    let consecutive = parts
        .keys()
        .zip(0..)
        .all(|(&index, expected)| index == expected);
    if !consecutive {
        return Err(ControllerError::InvalidReplicaAssignment(
            "partitions should be a consecutive 0-based integer sequence".to_string(),
        ));
    }
    Ok(parts.into_values().collect())
}

/// Kafka's checks of one manual replica list: not empty, every broker registered, no broker
/// twice, and (when `replication_factor` is given) as many replicas as the other partitions.
pub fn validate_manual_assignment(
    cluster: &ClusterView,
    brokers: &[i32],
    replication_factor: Option<usize>,
) -> Result<(), ControllerError> {
    if brokers.is_empty() {
        return Err(ControllerError::InvalidReplicaAssignment(
            "The manual partition assignment includes an empty replica list.".to_string(),
        ));
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    let mut previous = None;
    for &id in &sorted {
        if !cluster.is_registered(id) {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes broker {id}, but no such broker is \
                 registered."
            )));
        }
        if previous == Some(id) {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes the broker {id} more than once."
            )));
        }
        previous = Some(id);
    }
    match replication_factor {
        Some(rf) if rf != sorted.len() => Err(ControllerError::InvalidReplicaAssignment(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this \
             is not consistent with previous partitions, which have {rf} replica(s).",
            sorted.len()
        ))),
        _ => Ok(()),
    }
}

/// The partitions to add to a topic by CreatePartitions.
///
/// `topic` names it in messages; `existing` holds its current replica lists in partition order
/// (their length is the replication factor of the new ones); `count` is the requested total;
/// `assignments` the manual replica lists of the new partitions, if the request has them.
pub fn create_partitions(
    cluster: &ClusterView,
    topic: &str,
    existing: &[Vec<i32>],
    count: i32,
    assignments: Option<&[Vec<i32>]>,
    seed: u64,
    load: &Load,
) -> Result<Vec<Partition>, ControllerError> {
    let current = existing.len();
    let requested = usize::try_from(count).unwrap_or(0);
    if count >= 0 && requested == current {
        return Err(ControllerError::InvalidPartitions(format!(
            "Topic already has {current} partition(s)."
        )));
    }
    if count < 0 || requested < current {
        return Err(ControllerError::InvalidPartitions(format!(
            "The topic {topic} currently has {current} partition(s); {count} would not be an \
             increase."
        )));
    }
    let additional = requested - current;
    if let Some(assignments) = assignments {
        if assignments.len() != additional {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "Attempted to add {additional} additional partition(s), but only {} \
                 assignment(s) were specified.",
                assignments.len()
            )));
        }
    }
    if additional > MAX_PARTITIONS_PER_REQUEST {
        return Err(ControllerError::PolicyViolation);
    }
    let Some(first) = existing.first() else {
        return Err(ControllerError::InvalidRequest(format!(
            "Invalid state: topic {topic} appears to have no partitions."
        )));
    };
    let rf = first.len();
    let replica_lists = match assignments {
        Some(assignments) => {
            for (i, brokers) in assignments.iter().enumerate() {
                validate_manual_assignment(cluster, brokers, Some(rf))?;
                if !brokers.iter().any(|&b| cluster.is_active(b)) {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "All brokers specified in the manual partition assignment for partition \
                         {} are fenced or in controlled shutdown.",
                        current + i
                    )));
                }
            }
            assignments.to_vec()
        }
        None => {
            let request = PlacementRequest {
                partitions: u32::try_from(additional).unwrap_or(u32::MAX),
                replication_factor: i16::try_from(rf).unwrap_or(i16::MAX),
                seed,
            };
            // Kafka passes the placer's error through here without CreateTopics' prefix.
            place(cluster, &request, load)?
        }
    };
    replica_lists
        .into_iter()
        .map(|replicas| {
            initial(cluster, replicas).ok_or_else(|| {
                ControllerError::InvalidReplicationFactor(format!(
                    "Unable to replicate the partition {rf} time(s): {ALL_FENCED}"
                ))
            })
        })
        .collect()
}

/// A new partition: ISR = the active replicas, or `None` if there are none.
fn initial(cluster: &ClusterView, replicas: Vec<i32>) -> Option<Partition> {
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|&b| cluster.is_active(b))
        .collect();
    (!isr.is_empty()).then(|| Partition::new(replicas, isr))
}

#[cfg(test)]
mod tests;
