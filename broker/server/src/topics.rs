//! Topic lifecycle on this node: create, grow, reconfigure, delete.
//!
//! Each operation validates against the metadata image, commits metadata records,
//! and then opens or removes partition logs. This is the active controller's job;
//! with a single-node quorum this broker is always the controller.

use crate::broker::Broker;
use crate::metadata::{CommitError, MetadataRecord, TopicImage};
use crate::topic_config;
use kafka_protocol::error::ResponseError;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// A refused topic operation: a Kafka error code and a message for the client.
#[derive(Debug, Clone)]
pub struct TopicError {
    pub code: ResponseError,
    pub message: String,
}

impl TopicError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> TopicError {
        TopicError {
            code,
            message: message.into(),
        }
    }
}

/// A topic as a CreateTopics request (or auto-creation) asks for it.
pub struct NewTopic {
    pub name: String,
    /// -1: the broker default.
    pub partitions: i32,
    /// -1: the broker default.
    pub replication_factor: i16,
    /// Explicit assignment, `replicas[p]`; overrides the two counts when given.
    pub assignment: Option<Vec<Vec<i32>>>,
    pub configs: BTreeMap<String, String>,
}

/// Kafka's rule: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    let bad = |why: &str| {
        Err(TopicError::new(
            ResponseError::InvalidTopicException,
            format!("topic name `{name}` is illegal: {why}"),
        ))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name == "." || name == ".." {
        return bad("`.` and `..` are reserved");
    }
    if name.len() > 249 {
        return bad("it is longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad("only ASCII alphanumerics, `.`, `_` and `-` are allowed");
    }
    Ok(())
}

impl Broker {
    /// The brokers a replica may be placed on (this build: this node).
    pub fn live_brokers(&self) -> Vec<i32> {
        vec![self.config.node_id]
    }

    fn plan_replicas(
        &self,
        partitions: i32,
        rf: i16,
        first: i32,
    ) -> Result<Vec<Vec<i32>>, TopicError> {
        let brokers = self.live_brokers();
        if rf < 1 {
            return Err(TopicError::new(
                ResponseError::InvalidReplicationFactor,
                format!("replication factor must be at least 1, got {rf}"),
            ));
        }
        if rf as usize > brokers.len() {
            return Err(TopicError::new(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "replication factor {rf} is larger than the {} available broker(s)",
                    brokers.len()
                ),
            ));
        }
        Ok((0..partitions)
            .map(|p| {
                (0..rf as usize)
                    .map(|r| brokers[(first as usize + p as usize + r) % brokers.len()])
                    .collect()
            })
            .collect())
    }

    fn check_assignment(&self, assignment: &[Vec<i32>]) -> Result<(), TopicError> {
        let brokers = self.live_brokers();
        let bad = |m: String| Err(TopicError::new(ResponseError::InvalidReplicaAssignment, m));
        let Some(first) = assignment.first() else {
            return bad("the assignment is empty".into());
        };
        for (p, replicas) in assignment.iter().enumerate() {
            if replicas.is_empty() {
                return bad(format!("partition {p} has no replicas"));
            }
            if replicas.len() != first.len() {
                return bad("all partitions must have the same number of replicas".into());
            }
            let mut seen = replicas.clone();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() != replicas.len() {
                return bad(format!("partition {p} lists a broker twice"));
            }
            if let Some(b) = replicas.iter().find(|b| !brokers.contains(b)) {
                return bad(format!("partition {p} names unknown broker {b}"));
            }
        }
        Ok(())
    }

    /// Validates a new topic and returns the replica assignment it would get.
    fn plan_topic(&self, t: &NewTopic) -> Result<Vec<Vec<i32>>, TopicError> {
        validate_name(&t.name)?;
        topic_config::validate(&t.configs)
            .map_err(|m| TopicError::new(ResponseError::InvalidConfig, m))?;
        if let Some(a) = &t.assignment {
            if t.partitions != -1 || t.replication_factor != -1 {
                return Err(TopicError::new(
                    ResponseError::InvalidRequest,
                    "with a replica assignment, partitions and replication factor must be -1",
                ));
            }
            self.check_assignment(a)?;
            return Ok(a.clone());
        }
        let partitions = if t.partitions == -1 {
            self.config.num_partitions
        } else {
            t.partitions
        };
        if partitions < 1 {
            return Err(TopicError::new(
                ResponseError::InvalidPartitions,
                format!("number of partitions must be at least 1, got {partitions}"),
            ));
        }
        if partitions > 100_000 {
            return Err(TopicError::new(
                ResponseError::InvalidPartitions,
                format!("{partitions} partitions is more than this broker allows (100000)"),
            ));
        }
        let rf = if t.replication_factor == -1 {
            self.config.default_replication_factor
        } else {
            t.replication_factor
        };
        self.plan_replicas(partitions, rf, hash_start(&t.name))
    }

    /// Creates a topic (or only validates it). Returns the created topic.
    pub fn create_topic(&self, t: NewTopic, validate_only: bool) -> Result<TopicImage, TopicError> {
        let replicas = self.plan_topic(&t)?;
        if let Some(existing) = self.image().topic(&t.name) {
            let _ = existing;
            return Err(TopicError::new(
                ResponseError::TopicAlreadyExists,
                format!("topic `{}` already exists", t.name),
            ));
        }
        let id = Uuid::new_v4();
        let topic = TopicImage {
            name: Arc::from(t.name.as_str()),
            id,
            replicas: replicas.clone(),
            configs: t.configs.clone(),
        };
        if validate_only {
            return Ok(topic);
        }
        let name = t.name.clone();
        self.metadata
            .commit(|img| {
                if img.topic(&name).is_some() {
                    return Err(TopicError::new(
                        ResponseError::TopicAlreadyExists,
                        format!("topic `{name}` already exists"),
                    ));
                }
                Ok(vec![MetadataRecord::TopicCreated {
                    name: name.clone(),
                    id,
                    replicas,
                    configs: t.configs,
                }])
            })
            .map_err(commit_error)?;
        for p in 0..topic.partition_count() {
            self.open_partition(&topic, p)
                .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        }
        tracing::info!(topic = %topic.name, partitions = topic.partition_count(), %id, "topic created");
        Ok(topic)
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, id: Uuid) -> Result<Arc<str>, TopicError> {
        let image = self
            .metadata
            .commit(|img| match img.topic_by_id(id) {
                Some(_) => Ok(vec![MetadataRecord::TopicDeleted { id }]),
                None => Err(TopicError::new(
                    ResponseError::UnknownTopicId,
                    format!("no topic with id {id}"),
                )),
            })
            .map_err(commit_error)?;
        let _ = image;
        let name = self
            .take_partitions_by_id(id)
            .unwrap_or_else(|| Arc::from(""));
        tracing::info!(topic = %name, %id, "topic deleted");
        Ok(name)
    }

    fn take_partitions_by_id(&self, id: Uuid) -> Option<Arc<str>> {
        let all = self.all_partitions();
        let name = all.iter().find(|p| p.topic_id == id)?.topic.clone();
        for p in self.take_partitions(&name) {
            p.wake_waiters();
            let dir = self.partition_dir(&p.topic, p.index);
            // Readers holding the partition keep their file handles; unlinking is safe.
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a deleted partition's directory");
            }
        }
        Some(name)
    }

    /// Grows a topic to `total` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        total: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let image = self.image();
        let topic = image.topic(name).ok_or_else(|| {
            TopicError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            )
        })?;
        let current = topic.partition_count();
        if total <= current {
            return Err(TopicError::new(
                ResponseError::InvalidPartitions,
                format!("topic `{name}` has {current} partitions; the new count must be larger, got {total}"),
            ));
        }
        if total > 100_000 {
            return Err(TopicError::new(
                ResponseError::InvalidPartitions,
                format!("{total} partitions is more than this broker allows (100000)"),
            ));
        }
        let added = (total - current) as usize;
        let rf = topic.replicas.first().map(|r| r.len()).unwrap_or(1) as i16;
        let new = match assignment {
            Some(a) => {
                if a.len() != added {
                    return Err(TopicError::new(
                        ResponseError::InvalidReplicaAssignment,
                        format!(
                            "the assignment lists {} partitions but {added} are added",
                            a.len()
                        ),
                    ));
                }
                self.check_assignment(&a)?;
                if a.iter().any(|r| r.len() != rf as usize) {
                    return Err(TopicError::new(
                        ResponseError::InvalidReplicaAssignment,
                        format!("new partitions must have the topic's replication factor {rf}"),
                    ));
                }
                a
            }
            None => self.plan_replicas(added as i32, rf, hash_start(name) + current)?,
        };
        if validate_only {
            return Ok(());
        }
        let id = topic.id;
        let img = self
            .metadata
            .commit(|img| match img.topic_by_id(id) {
                Some(t) if t.partition_count() == current => {
                    Ok(vec![MetadataRecord::PartitionsAdded {
                        id,
                        replicas: new.clone(),
                    }])
                }
                Some(_) => Err(TopicError::new(
                    ResponseError::ConcurrentTransactions,
                    "the topic changed meanwhile; retry",
                )),
                None => Err(TopicError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("topic `{name}` does not exist"),
                )),
            })
            .map_err(commit_error)?;
        let Some(topic) = img.topic_by_id(id) else {
            return Ok(());
        };
        for p in current..total {
            self.open_partition(topic, p)
                .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        }
        tracing::info!(topic = %name, from = current, to = total, "partitions added");
        Ok(())
    }

    /// Replaces a topic's config overrides (after validation) and applies them to its logs.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        topic_config::validate(&configs)
            .map_err(|m| TopicError::new(ResponseError::InvalidConfig, m))?;
        let image = self.image();
        let topic = image.topic(name).ok_or_else(|| {
            TopicError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            )
        })?;
        let log_config = topic_config::log_config(&self.config, &configs);
        log_config
            .validate()
            .map_err(|e| TopicError::new(ResponseError::InvalidConfig, e.to_string()))?;
        if validate_only || topic.configs == configs {
            return Ok(());
        }
        let id = topic.id;
        self.metadata
            .commit(|img| match img.topic_by_id(id) {
                Some(_) => Ok(vec![MetadataRecord::TopicConfigChanged {
                    id,
                    configs: configs.clone(),
                }]),
                None => Err(TopicError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("topic `{name}` does not exist"),
                )),
            })
            .map_err(commit_error)?;
        for p in self.all_partitions().iter().filter(|p| p.topic_id == id) {
            p.log.set_config(log_config);
        }
        tracing::info!(topic = %name, "topic configuration changed");
        Ok(())
    }
}

fn commit_error(e: CommitError<TopicError>) -> TopicError {
    match e {
        CommitError::Refused(t) => t,
        CommitError::Store(e) => TopicError::new(ResponseError::KafkaStorageError, e.to_string()),
    }
}

/// Where a topic's round-robin placement starts, so topics do not all lead on one broker.
fn hash_start(name: &str) -> i32 {
    (crc32c::crc32c(name.as_bytes()) % 1024) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a b", "ä", &"x".repeat(250)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
