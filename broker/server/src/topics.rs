//! Topic lifecycle on this node: create, grow, reconfigure, delete.
//!
//! Each operation validates against the metadata image, commits metadata records,
//! and then opens or removes partition logs. This is the active controller's job;
//! with a single-node quorum this broker is always the controller.

use crate::broker::Broker;
use crate::metadata::{CommitError, MetadataRecord, TopicImage};
use crate::partition::Partition;
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

/// Kafka's cluster metadata topic. Here the metadata log lives outside the topic
/// namespace, and the name is reserved so no client topic can take it.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";
/// Kafka's transaction coordinator's topic (reserved: transactions are not served yet).
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Topics the broker itself owns: clients cannot create, delete, grow, truncate or
/// reconfigure them.
pub fn is_internal(name: &str) -> bool {
    name == CLUSTER_METADATA_TOPIC
        || name == crate::group::OFFSETS_TOPIC
        || name == TRANSACTION_STATE_TOPIC
}

/// The refusal of a client operation on an internal topic: INVALID_REQUEST, as Kafka
/// answers a CreateTopics of `__cluster_metadata`.
pub fn internal_topic_error(name: &str, what: &str) -> TopicError {
    TopicError::new(
        ResponseError::InvalidRequest,
        format!("topic `{name}` is internal to the broker: clients cannot {what} it"),
    )
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
    ///
    /// All or nothing: every partition's log is created and opened before the topic is
    /// committed to the metadata log. If one cannot be (disk full, too many open files),
    /// the ones already created are removed and nothing is committed.
    pub fn create_topic(&self, t: NewTopic, validate_only: bool) -> Result<TopicImage, TopicError> {
        let replicas = self.plan_topic(&t)?;
        let exists = |name: &str| {
            TopicError::new(
                ResponseError::TopicAlreadyExists,
                format!("topic `{name}` already exists"),
            )
        };
        if self.image().topic(&t.name).is_some() {
            return Err(exists(&t.name));
        }
        let id = Uuid::new_v4();
        let topic = TopicImage::new(
            Arc::from(t.name.as_str()),
            id,
            replicas.clone(),
            t.configs.clone(),
        );
        if validate_only {
            return Ok(topic);
        }
        let _guard = self.topic_changes.lock();
        if self.image().topic(&t.name).is_some() {
            return Err(exists(&t.name));
        }
        let opened = self.open_new_partitions(&topic, 0)?;
        let name = t.name.clone();
        let committed = self.metadata.commit(|img| {
            if img.topic(&name).is_some() {
                return Err(exists(&name));
            }
            Ok(vec![MetadataRecord::TopicCreated {
                name: name.clone(),
                id,
                replicas,
                configs: t.configs,
            }])
        });
        if let Err(e) = committed {
            let e = commit_error(e);
            tracing::error!(topic = %name, error = %e.message, "cannot commit a new topic; removing its partitions");
            self.discard_new_partitions(opened);
            return Err(e);
        }
        for (p, _) in opened {
            self.register(p);
        }
        log_deprecated(&topic.name, &topic.configs);
        tracing::info!(topic = %topic.name, partitions = topic.partition_count(), %id, "topic created");
        Ok(topic)
    }

    /// Creates and opens the logs of `topic`'s partitions from `first` on, without
    /// registering them. On the first failure the ones created so far are removed and a
    /// KAFKA_STORAGE_ERROR names the partition and the cause. Each opened partition
    /// comes with whether its directory was created here (and so may be removed).
    fn open_new_partitions(
        &self,
        topic: &TopicImage,
        first: i32,
    ) -> Result<Vec<(Arc<Partition>, bool)>, TopicError> {
        let mut opened = Vec::new();
        for p in first..topic.partition_count() {
            if !self.hosts(topic, p) {
                continue;
            }
            let dir = self.partition_dir(&topic.name, p);
            let created = !dir.exists();
            match self.open_log(topic, p) {
                Ok(partition) => opened.push((partition, created)),
                Err(e) => {
                    tracing::error!(topic = %topic.name, partition = p, error = %e, "cannot create a partition's log; the change is rolled back");
                    if created {
                        remove_dir(&dir);
                    }
                    self.discard_new_partitions(opened);
                    return Err(TopicError::new(
                        ResponseError::KafkaStorageError,
                        format!(
                            "cannot create partition {p} of topic `{}`: {e}; nothing was created",
                            topic.name
                        ),
                    ));
                }
            }
        }
        Ok(opened)
    }

    /// Closes partitions opened for a change that did not happen and removes the
    /// directories that change created.
    fn discard_new_partitions(&self, opened: Vec<(Arc<Partition>, bool)>) {
        for (p, created) in opened {
            let dir = self.partition_dir(&p.topic, p.index);
            drop(p);
            if created {
                remove_dir(&dir);
            }
        }
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, id: Uuid) -> Result<Arc<str>, TopicError> {
        let _guard = self.topic_changes.lock();
        let mut deleted: Option<TopicImage> = None;
        self.metadata
            .commit(|img| match img.topic_by_id(id) {
                Some(t) => {
                    deleted = Some(t.clone());
                    Ok(vec![MetadataRecord::TopicDeleted { id }])
                }
                None => Err(TopicError::new(
                    ResponseError::UnknownTopicId,
                    format!("no topic with id {id}"),
                )),
            })
            .map_err(commit_error)?;
        let Some(topic) = deleted else {
            return Err(TopicError::new(
                ResponseError::UnknownTopicId,
                format!("no topic with id {id}"),
            ));
        };
        for p in self.take_partitions(&topic.name) {
            p.wake_waiters();
        }
        for p in 0..topic.partition_count() {
            let dir = self.partition_dir(&topic.name, p);
            // Readers holding the partition keep their file handles; unlinking is safe.
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not remove a deleted partition's directory")
                }
            }
        }
        tracing::info!(topic = %topic.name, %id, "topic deleted");
        Ok(topic.name)
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
        let _guard = self.topic_changes.lock();
        let mut grown = topic.clone();
        grown.replicas.extend(new.iter().cloned());
        grown.isr.extend(new.iter().cloned());
        let opened = self.open_new_partitions(&grown, current)?;
        let committed = self.metadata.commit(|img| match img.topic_by_id(id) {
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
        });
        if let Err(e) = committed {
            self.discard_new_partitions(opened);
            return Err(commit_error(e));
        }
        for (p, _) in opened {
            self.register(p);
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
        log_deprecated(name, &configs);
        tracing::info!(topic = %name, "topic configuration changed");
        Ok(())
    }
}

/// Says which of a topic's configs Kafka deprecated and this broker ignores.
fn log_deprecated(topic: &str, configs: &BTreeMap<String, String>) {
    for (key, why) in topic_config::deprecated_in(configs) {
        tracing::warn!(
            topic,
            config = key,
            "topic config is accepted but ignored: {why}"
        );
    }
}

fn remove_dir(dir: &std::path::Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the directory of a partition that was not created");
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
