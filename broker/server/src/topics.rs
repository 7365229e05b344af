//! Topic lifecycle: the checks the active controller makes against its image
//! (`plan_*`, `check_*`), and the broker's entry points, which send typed commands to
//! the active controller (wherever it is) and wait until this broker applied the result.
//! Partition logs are created and deleted when the records are applied
//! ([`crate::quorum::reconcile`]).

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::metadata::{MetadataImage, TopicImage};
use crate::quorum::controller::{Command, Done};
use crate::topic_config;
use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// The brokers a replica may be placed on: the live ones, by id.
pub fn live_brokers(image: &MetadataImage) -> Vec<i32> {
    image.live_brokers().map(|b| b.id).collect()
}

fn plan_replicas(
    image: &MetadataImage,
    partitions: i32,
    rf: i16,
    first: i32,
) -> Result<Vec<Vec<i32>>, TopicError> {
    let brokers = live_brokers(image);
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
    let cluster = fjord_controller::ClusterView::from_brokers(image.brokers.values().map(|b| {
        fjord_controller::BrokerInfo {
            id: b.id,
            rack: b.rack.clone(),
            fenced: b.fenced,
            in_controlled_shutdown: false,
            epoch: b.epoch,
        }
    }));
    let load = fjord_controller::Load::from_assignments(
        image.topics.values().flat_map(|t| t.replicas.iter()),
    );
    let request = fjord_controller::PlacementRequest {
        partitions: partitions.max(0) as u32,
        replication_factor: rf,
        seed: first.max(0) as u64,
    };
    fjord_controller::place(&cluster, &request, &load).map_err(|e| {
        let code = ResponseError::try_from_code(e.code())
            .unwrap_or(ResponseError::InvalidReplicationFactor);
        TopicError::new(code, e.message().unwrap_or_else(|| e.to_string()))
    })
}

fn check_assignment(image: &MetadataImage, assignment: &[Vec<i32>]) -> Result<(), TopicError> {
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
        if let Some(b) = replicas.iter().find(|b| !image.brokers.contains_key(b)) {
            return bad(format!("partition {p} names unknown broker {b}"));
        }
    }
    Ok(())
}

/// Validates a new topic and returns the replica assignment it would get.
pub fn plan_topic(
    cfg: &BrokerConfig,
    image: &MetadataImage,
    t: &NewTopic,
) -> Result<Vec<Vec<i32>>, TopicError> {
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
        check_assignment(image, a)?;
        return Ok(a.clone());
    }
    let partitions = if t.partitions == -1 {
        cfg.num_partitions
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
        cfg.default_replication_factor
    } else {
        t.replication_factor
    };
    plan_replicas(image, partitions, rf, hash_start(&t.name))
}

/// Validates growing topic `name` to `total` partitions; returns the topic and the
/// replicas of the new partitions.
pub fn plan_partitions(
    _cfg: &BrokerConfig,
    image: &MetadataImage,
    name: &str,
    total: i32,
    assignment: Option<Vec<Vec<i32>>>,
) -> Result<(TopicImage, Vec<Vec<i32>>), TopicError> {
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
            check_assignment(image, &a)?;
            if a.iter().any(|r| r.len() != rf as usize) {
                return Err(TopicError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!("new partitions must have the topic's replication factor {rf}"),
                ));
            }
            a
        }
        None => plan_replicas(image, added as i32, rf, hash_start(name) + current)?,
    };
    Ok((topic.clone(), new))
}

/// Validates replacing topic `name`'s config overrides by `configs`.
pub fn check_configs<'a>(
    cfg: &BrokerConfig,
    image: &'a MetadataImage,
    name: &str,
    configs: &BTreeMap<String, String>,
) -> Result<&'a TopicImage, TopicError> {
    topic_config::validate(configs)
        .map_err(|m| TopicError::new(ResponseError::InvalidConfig, m))?;
    let topic = image.topic(name).ok_or_else(|| {
        TopicError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("topic `{name}` does not exist"),
        )
    })?;
    topic_config::log_config(cfg, configs)
        .validate()
        .map_err(|e| TopicError::new(ResponseError::InvalidConfig, e.to_string()))?;
    Ok(topic)
}

impl Broker {
    /// Sends `cmd` to the active controller and waits (bounded) until this broker has
    /// applied what it committed, so the caller's next read sees it.
    pub async fn submit(&self, cmd: Command) -> Result<Done, TopicError> {
        let done = self.quorum.controller.submit(cmd).await.map_err(|r| {
            TopicError::new(
                ResponseError::try_from_code(r.code).unwrap_or(ResponseError::UnknownServerError),
                r.message,
            )
        })?;
        self.quorum.wait_applied(done.index).await;
        Ok(done)
    }

    /// Creates a topic (or only validates it). Returns the created topic.
    pub async fn create_topic_async(
        &self,
        t: NewTopic,
        validate_only: bool,
    ) -> Result<TopicImage, TopicError> {
        let id = Uuid::new_v4();
        let (name, configs) = (t.name.clone(), t.configs.clone());
        let done = self
            .submit(Command::CreateTopic {
                topic: t,
                id,
                validate_only,
            })
            .await?;
        let topic = TopicImage::new(Arc::from(name.as_str()), id, done.replicas, configs);
        if !validate_only {
            log_deprecated(&topic.name, &topic.configs);
            tracing::info!(topic = %topic.name, partitions = topic.partition_count(), %id, "topic created");
        }
        Ok(topic)
    }

    /// [`Broker::create_topic_async`] for synchronous callers on the runtime (the group
    /// coordinator creating `__consumer_offsets`).
    pub fn create_topic(&self, t: NewTopic, validate_only: bool) -> Result<TopicImage, TopicError> {
        match tokio::runtime::Handle::try_current() {
            Ok(h) => tokio::task::block_in_place(|| {
                h.block_on(self.create_topic_async(t, validate_only))
            }),
            Err(_) => Err(TopicError::new(
                ResponseError::UnknownServerError,
                "topic creation needs the broker's runtime",
            )),
        }
    }

    /// Deletes a topic; every broker removes its partitions when it applies the record.
    pub async fn delete_topic(&self, id: Uuid) -> Result<(), TopicError> {
        self.submit(Command::DeleteTopic { id }).await?;
        tracing::info!(%id, "topic deleted");
        Ok(())
    }

    /// Grows a topic to `total` partitions.
    pub async fn create_partitions(
        &self,
        name: &str,
        total: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        self.submit(Command::CreatePartitions {
            name: name.to_string(),
            total,
            assignment,
            validate_only,
        })
        .await?;
        if !validate_only {
            tracing::info!(topic = %name, to = total, "partitions added");
        }
        Ok(())
    }

    /// Replaces a topic's config overrides (after validation).
    pub async fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let changed = self
            .submit(Command::SetTopicConfigs {
                name: name.to_string(),
                configs: configs.clone(),
                validate_only,
            })
            .await?;
        if !validate_only && changed.index > 0 {
            log_deprecated(name, &configs);
            tracing::info!(topic = %name, "topic configuration changed");
        }
        Ok(())
    }
}

/// Says which of a topic's configs Kafka deprecated and this broker ignores.
pub(crate) fn log_deprecated(topic: &str, configs: &BTreeMap<String, String>) {
    for (key, why) in topic_config::deprecated_in(configs) {
        tracing::warn!(
            topic,
            config = key,
            "topic config is accepted but ignored: {why}"
        );
    }
}

pub(crate) fn remove_dir(dir: &std::path::Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the directory of a partition that was not created");
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

    fn image_with_brokers(ids: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for &id in ids {
            image.apply(fjord_metadata::MetadataRecord::BrokerRegistered {
                id,
                epoch: i64::from(id),
                incarnation: uuid::Uuid::new_v4(),
                endpoints: vec![],
                rack: None,
            });
        }
        image
    }

    #[test]
    fn new_partitions_go_to_the_least_loaded_brokers() {
        let mut image = image_with_brokers(&[1, 2, 3]);
        let even = plan_replicas(&image, 6, 1, 0).unwrap();
        for b in [1, 2, 3] {
            assert_eq!(even.iter().filter(|r| r[0] == b).count(), 2, "{even:?}");
        }
        // Broker 1 already carries three partitions: the next two go elsewhere.
        image.apply(fjord_metadata::MetadataRecord::TopicCreated {
            name: "busy".into(),
            id: uuid::Uuid::new_v4(),
            replicas: vec![vec![1], vec![1], vec![1]],
            configs: BTreeMap::new(),
        });
        let next = plan_replicas(&image, 2, 1, 0).unwrap();
        assert!(next.iter().all(|r| r[0] != 1), "{next:?}");
    }
}
