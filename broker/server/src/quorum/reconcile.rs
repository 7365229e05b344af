//! Bringing this broker's partition logs in line with the applied metadata: every
//! broker, on every applied batch, creates the logs of partitions newly assigned to it,
//! deletes those of deleted topics and applies changed topic configs.
//!
//! The active controller opens the logs it will host itself *before* it proposes a new
//! topic ([`Broker::preopen`]), so a full disk refuses the CreateTopics with nothing
//! committed; applying then registers those already-open logs instead of opening the
//! same directory twice.

use crate::broker::{Broker, StartError};
use crate::metadata::{MetadataImage, TopicImage};
use crate::partition::Partition;
use crate::topic_config;
use crate::topics::{remove_dir, TopicError};
use kafka_protocol::error::ResponseError;
use std::sync::Arc;

impl Broker {
    /// Opens the logs this broker will host of `topic`'s partitions from `first` on,
    /// keeping them aside until the records commit. On failure nothing is left behind.
    pub fn preopen(
        &self,
        topic: &TopicImage,
        first: i32,
    ) -> Result<Vec<(Arc<str>, i32)>, TopicError> {
        let _guard = self.topic_changes.lock();
        let mut opened: Vec<(Arc<Partition>, bool)> = Vec::new();
        for p in first..topic.partition_count() {
            if !self.hosts(topic, p) || self.partition(&topic.name, p).is_some() {
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
                    for (p, created) in opened {
                        let dir = self.partition_dir(&p.topic, p.index);
                        drop(p);
                        if created {
                            remove_dir(&dir);
                        }
                    }
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
        let mut pending = self.pending.lock();
        Ok(opened
            .into_iter()
            .map(|(p, created)| {
                let key = (p.topic.clone(), p.index);
                pending.insert(key.clone(), (p, created));
                key
            })
            .collect())
    }

    /// Drops logs opened for a change that did not commit, removing their new directories.
    pub fn discard_preopened(&self, keys: Vec<(Arc<str>, i32)>) {
        let _guard = self.topic_changes.lock();
        for key in keys {
            let Some((p, created)) = self.pending.lock().remove(&key) else {
                continue;
            };
            let dir = self.partition_dir(&p.topic, p.index);
            drop(p);
            if created {
                remove_dir(&dir);
            }
        }
    }

    /// Makes the open logs match `image`. Idempotent; serialised with other log changes.
    pub fn reconcile(&self, image: &MetadataImage) {
        let _guard = self.topic_changes.lock();
        // Deletions first: a topic deleted and created again under its name has a new id.
        for name in self.open_topics() {
            let parts = self.partitions_of(&name);
            let topic = image
                .topic(&name)
                .filter(|t| parts.iter().all(|p| p.topic_id == t.id));
            let Some(topic) = topic else {
                for p in self.take_partitions(&name) {
                    self.delete_log(p);
                }
                tracing::info!(topic = %name, "removed the local partitions of a deleted topic");
                continue;
            };
            // A reassignment moved these replicas away: they stop fetching or leading (their
            // role goes with them) and their logs are deleted, as Kafka's StopReplica does.
            for p in parts.iter().filter(|p| !self.hosts(topic, p.index)) {
                if let Some(p) = self.take_partition(&name, p.index) {
                    tracing::info!(topic = %name, partition = p.index, "removed a replica reassigned away from this broker");
                    self.delete_log(p);
                }
            }
        }
        for topic in image.topics.values() {
            for p in 0..topic.partition_count() {
                if !self.hosts(topic, p) || self.partition(&topic.name, p).is_some() {
                    continue;
                }
                let pre = self.pending.lock().remove(&(topic.name.clone(), p));
                let opened = match pre {
                    Some((partition, _)) if partition.topic_id == topic.id => Ok(partition),
                    _ if self.in_offline_list(&topic.name, p) => continue,
                    _ => self.open_log(topic, p),
                };
                match opened {
                    // Its role, and the group coordinator's part, follow in `apply_roles`.
                    Ok(partition) => self.register(partition),
                    Err(e) => self.mark_offline(&topic.name, p, &e),
                }
            }
        }
        let mut last = self.reconciled.lock();
        // New dynamic broker configs change the defaults of every topic without an override.
        let defaults_changed = self.apply_dynamic_configs(image);
        let live = self.live_config();
        for p in self.all_partitions() {
            let (Some(now), before) = (image.topic(&p.topic), last.topic(&p.topic)) else {
                continue;
            };
            if !defaults_changed
                && before.is_some_and(|b| b.configs == now.configs && b.id == now.id)
            {
                continue;
            }
            p.log
                .set_config(topic_config::log_config(&live, &now.configs));
        }
        *last = Arc::new(image.clone());
        drop(last);
        // Leader or follower of each partition, as the image now says.
        self.apply_roles(image);
    }

    /// Closes a partition taken out of the broker and deletes its directory. Readers still
    /// holding it keep their file handles, so unlinking is safe.
    fn delete_log(&self, p: Arc<Partition>) {
        p.wake_waiters();
        let dir = self.partition_dir(&p.topic, p.index);
        drop(p);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a partition's directory")
            }
        }
    }

    fn mark_offline(&self, topic: &Arc<str>, index: i32, error: &StartError) {
        self.set_offline(topic, index, error);
    }
}
