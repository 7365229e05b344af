//! The broker's shared state: configuration, metadata, partitions, metrics.

use crate::config::{BrokerConfig, Listener};
use crate::metadata::{MetadataImage, TopicImage};
use crate::metrics::Metrics;
use crate::partition::Partition;
use crate::quorum::controller::Command;
use crate::quorum::Quorum;
use crate::topic_config;
use kafka_protocol::error::ResponseError;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {error}")]
    DataDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataError),
    #[error("partition {topic}-{partition}: {error}")]
    Log {
        topic: String,
        partition: i32,
        error: fjord_storage::StorageError,
    },
    #[error("no descriptor headroom for partition {topic}-{partition}: {reserved} of the open-file limit {limit} are kept for client connections")]
    NoDescriptors {
        topic: String,
        partition: i32,
        reserved: u64,
        limit: u64,
    },
}

/// The partitions this broker leads: by topic name (looked up by `&str` without
/// allocating), then by partition index.
type PartitionMap = HashMap<Arc<str>, BTreeMap<i32, Arc<Partition>>>;

/// Logs opened ahead of a commit, by (topic, partition), with whether their directory
/// was created for it (and so may be removed if the change does not commit).
pub(crate) type PendingLogs = HashMap<(Arc<str>, i32), (Arc<Partition>, bool)>;

/// Everything a request handler can reach. Shared as `Arc<Broker>`.
pub struct Broker {
    /// The static configuration (file, `FJORD_*`, `--set`), as started.
    pub config: BrokerConfig,
    /// The configuration in force: `config` with the dynamic broker configs of the
    /// metadata log on top (see [`Broker::live_config`]).
    live: RwLock<Arc<BrokerConfig>>,
    /// What Metadata tells clients about this broker.
    pub advertised: Listener,
    /// The metadata quorum: the image, the active controller, this node's Raft.
    pub quorum: Arc<Quorum>,
    /// Identifies this process's broker registration (a restart registers anew).
    pub incarnation: uuid::Uuid,
    partitions: RwLock<PartitionMap>,
    /// Logs the active controller opened for a change not yet committed.
    pub(crate) pending: Mutex<PendingLogs>,
    /// The image the open logs were last brought in line with.
    pub(crate) reconciled: Mutex<Arc<MetadataImage>>,
    /// `meta.properties` is known to be written.
    props_written: AtomicBool,
    /// Partitions this broker should host that could not be opened, with the error.
    offline: RwLock<BTreeMap<(Arc<str>, i32), String>>,
    /// Serialises topic creation, growth and the offline retries: each opens logs
    /// before committing, and they must not open the same directory twice.
    pub(crate) topic_changes: Mutex<()>,
    pub metrics: Metrics,
    /// The route table; ApiVersions answers from it.
    pub router: crate::router::Router,
    producer_ids: tokio::sync::Mutex<ProducerIdBlock>,
    ready: AtomicBool,
    /// The group coordinator (consumer groups and committed offsets).
    pub groups: Arc<crate::group::GroupCoordinator>,
    /// How the open-file limit is shared (`None`: the limit could not be read).
    descriptors: Option<crate::descriptors::DescriptorPlan>,
    /// Partition replication: fetchers, ISR changes to send, high watermark checkpoints.
    pub replication: crate::replication::Replication,
    /// The listener's per-IP connection limits, once it runs (dynamic configs update them).
    pub connection_quotas: std::sync::OnceLock<Arc<crate::connection_quotas::ConnectionQuotas>>,
}

/// Producer ids are reserved from the metadata log in blocks, like Kafka's
/// `ProducerIdManager`, so a restart never hands out an id twice.
#[derive(Default)]
struct ProducerIdBlock {
    next: i64,
    end: i64,
}

const PRODUCER_ID_BLOCK: i64 = 1000;

impl Broker {
    /// Opens every partition log under `log.dirs` that the metadata assigns to this
    /// node. A partition that cannot be opened is reported offline and retried later; it
    /// does not stop the start.
    pub fn open(
        config: BrokerConfig,
        advertised: Listener,
        quorum: Arc<Quorum>,
    ) -> Result<Broker, StartError> {
        let groups = crate::group::GroupCoordinator::new(&config);
        let descriptors = crate::descriptors::DescriptorPlan::current();
        if let Some(plan) = descriptors {
            plan.apply();
            tracing::info!(
                limit = plan.limit,
                reserved_for_clients = plan.client_reserve,
                segment_cache = plan.segment_cache,
                "open-file limit shared out"
            );
        }
        let image = quorum.image();
        let live = RwLock::new(Arc::new(crate::dynamic_config::live(&config, &image)));
        let broker = Broker {
            live,
            config,
            advertised,
            quorum,
            incarnation: uuid::Uuid::new_v4(),
            pending: Mutex::new(HashMap::new()),
            reconciled: Mutex::new(image),
            props_written: AtomicBool::new(false),
            partitions: RwLock::new(HashMap::new()),
            offline: RwLock::new(BTreeMap::new()),
            topic_changes: Mutex::new(()),
            metrics: Metrics::new(),
            router: crate::router::Router::new(),
            producer_ids: tokio::sync::Mutex::new(ProducerIdBlock::default()),
            ready: AtomicBool::new(false),
            groups,
            descriptors,
            replication: Default::default(),
            connection_quotas: std::sync::OnceLock::new(),
        };
        broker.open_all_logs();
        broker.groups.start(&broker);
        broker.mark_stray_dirs();
        Ok(broker)
    }

    /// The configuration in force now: the static one with the dynamic broker configs
    /// applied. Read it per use; it changes when the metadata log says so.
    pub fn live_config(&self) -> Arc<BrokerConfig> {
        self.live.read().clone()
    }

    /// Replaces the configuration in force (from [`crate::dynamic_config`]).
    pub(crate) fn set_live_config(&self, cfg: Arc<BrokerConfig>) {
        *self.live.write() = cfg;
    }

    fn open_all_logs(&self) {
        let image = self.image();
        let started = std::time::Instant::now();
        let (mut count, mut offline) = (0, 0);
        let mut room = self.descriptor_room();
        for topic in image.topics.values() {
            for p in 0..topic.partition_count() {
                if !self.hosts(topic, p) {
                    continue;
                }
                match self.open_log_within(topic, p, &mut room) {
                    Ok(partition) => {
                        self.register(partition);
                        count += 1;
                    }
                    Err(e) => {
                        self.set_offline(&topic.name, p, &e);
                        offline += 1;
                    }
                }
            }
        }
        tracing::info!(
            partitions = count,
            offline,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "logs loaded"
        );
    }

    /// Whether this node holds a replica of `topic`'s partition `p`.
    pub(crate) fn hosts(&self, topic: &TopicImage, p: i32) -> bool {
        topic
            .replicas
            .get(p as usize)
            .is_some_and(|r| r.contains(&self.config.node_id))
    }

    /// Partition logs that may still be opened without eating into the descriptors kept for
    /// clients (see [`crate::descriptors`]).
    fn descriptor_room(&self) -> u64 {
        self.descriptors.map_or(u64::MAX, |d| d.room_now())
    }

    /// [`Broker::open_log`] if `room` allows one more open partition (each holds a
    /// descriptor); counts it off `room`.
    fn open_log_within(
        &self,
        topic: &TopicImage,
        index: i32,
        room: &mut u64,
    ) -> Result<Arc<Partition>, StartError> {
        if *room == 0 {
            let plan = self
                .descriptors
                .unwrap_or(crate::descriptors::DescriptorPlan::for_limit(0));
            return Err(StartError::NoDescriptors {
                topic: topic.name.to_string(),
                partition: index,
                reserved: plan.client_reserve,
                limit: plan.limit,
            });
        }
        let p = self.open_log(topic, index)?;
        *room -= 1;
        Ok(p)
    }

    /// Opens (creating if needed) one partition's log, without registering it.
    pub fn open_log(&self, topic: &TopicImage, index: i32) -> Result<Arc<Partition>, StartError> {
        let dir = self.partition_dir(&topic.name, index);
        std::fs::create_dir_all(&dir).map_err(|error| StartError::DataDir {
            path: dir.clone(),
            error,
        })?;
        let log = fjord_storage::Log::open(
            &dir,
            topic_config::log_config(&self.live_config(), &topic.configs),
        )
        .map_err(|error| StartError::Log {
            topic: topic.name.to_string(),
            partition: index,
            error,
        })?;
        Ok(Arc::new(Partition::new(
            topic.name.clone(),
            topic.id,
            index,
            log,
        )))
    }

    /// Makes an opened partition visible to requests (and takes it off the offline list).
    pub fn register(&self, p: Arc<Partition>) {
        self.offline.write().remove(&(p.topic.clone(), p.index));
        self.partitions
            .write()
            .entry(p.topic.clone())
            .or_default()
            .insert(p.index, p);
    }

    pub(crate) fn set_offline(&self, topic: &Arc<str>, index: i32, error: &StartError) {
        tracing::error!(topic = %topic, partition = index, %error, "partition is offline: its log cannot be opened; retrying periodically");
        self.offline
            .write()
            .insert((topic.clone(), index), error.to_string());
    }

    /// Takes an open partition offline because its log failed (a write or fsync error it could
    /// not undo): requests get NOT_LEADER_OR_FOLLOWER, the offline gauge counts it, and
    /// [`Broker::retry_offline`] reopens the log, whose recovery cuts any torn tail.
    pub fn take_offline(&self, p: &Arc<Partition>, reason: &str) {
        let _guard = self.topic_changes.lock();
        {
            let mut parts = self.partitions.write();
            let Some(topic) = parts.get_mut(&p.topic) else {
                return; // deleted meanwhile
            };
            if !topic.get(&p.index).is_some_and(|q| Arc::ptr_eq(q, p)) {
                return; // already replaced by a reopened log
            }
            topic.remove(&p.index);
        }
        tracing::error!(topic = %p.topic, partition = p.index, %reason, "partition is offline: its log failed; reopening it periodically");
        self.offline
            .write()
            .insert((p.topic.clone(), p.index), format!("log failed: {reason}"));
    }

    /// Partitions this broker should host whose log is not open, with the reason.
    pub fn offline_partitions(&self) -> Vec<(Arc<str>, i32, String)> {
        self.offline
            .read()
            .iter()
            .map(|((t, p), why)| (t.clone(), *p, why.clone()))
            .collect()
    }

    /// Whether `topic`'s partition `index` should be here but could not be opened.
    /// The error for a request naming a partition this broker has no open log for: an
    /// offline partition (its log could not be opened) has no leader, so clients are told
    /// NOT_LEADER_OR_FOLLOWER and retry after refreshing metadata, as for a Kafka partition
    /// without a live leader; anything else does not exist here.
    /// A partition that exists on another broker: NOT_LEADER_OR_FOLLOWER, so the client
    /// refreshes its metadata and goes to the leader.
    pub fn missing_partition_error(&self, topic: &str, index: i32) -> ResponseError {
        let elsewhere = self
            .image()
            .topic(topic)
            .is_some_and(|t| index >= 0 && index < t.partition_count() && !self.hosts(t, index));
        if elsewhere || self.is_offline(topic, index) {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        }
    }

    pub fn is_offline(&self, topic: &str, index: i32) -> bool {
        let image = self.image();
        let Some(t) = image.topic(topic) else {
            return false;
        };
        self.hosts(t, index) && self.partition(topic, index).is_none()
    }

    /// Partitions of the image that this broker should host but has not open: the
    /// offline-partitions gauge.
    pub fn offline_partition_count(&self) -> usize {
        let image = self.image();
        let parts = self.partitions.read();
        image
            .topics
            .values()
            .map(|t| {
                (0..t.partition_count())
                    .filter(|&p| self.hosts(t, p))
                    .filter(|p| !parts.get(&*t.name).is_some_and(|m| m.contains_key(p)))
                    .count()
            })
            .sum()
    }

    /// Partitions this broker leads whose ISR in the image is smaller than their replica
    /// set (Kafka's UnderReplicatedPartitions: counted by the leader, so the sum over
    /// brokers is the cluster's count).
    pub fn under_replicated_partition_count(&self) -> usize {
        self.count_led(|t, p| t.is_under_replicated(p))
    }

    /// Partitions this broker leads whose ISR is below their `min.insync.replicas`
    /// (Kafka's UnderMinIsrPartitionCount): `acks=all` produces to them fail.
    pub fn under_min_isr_partition_count(&self) -> usize {
        let live = self.live_config();
        self.count_led(|t, p| {
            let required = crate::topic_config::min_insync_replicas(&live, &t.configs);
            (t.isr(p).len() as i64) < i64::from(required)
        })
    }

    fn count_led(&self, pred: impl Fn(&TopicImage, usize) -> bool) -> usize {
        let me = self.config.node_id;
        self.image()
            .topics
            .values()
            .map(|t| {
                (0..t.replicas.len())
                    .filter(|&p| t.leadership(p).is_some_and(|l| l.leader == me))
                    .filter(|&p| pred(t, p))
                    .count()
            })
            .sum()
    }

    /// Tries again to open the partitions that could not be opened (disk full, too many
    /// open files). Ones that open are served from now on; a `__consumer_offsets`
    /// partition is handed to the group coordinator, which loads it.
    pub fn retry_offline(&self) {
        let pending: Vec<(Arc<str>, i32)> = self.offline.read().keys().cloned().collect();
        if pending.is_empty() {
            return;
        }
        let mut room = self.descriptor_room();
        for (name, index) in pending {
            let _guard = self.topic_changes.lock();
            let image = self.image();
            let topic = match image.topic(&name) {
                Some(t) if self.hosts(t, index) => t,
                _ => {
                    // Deleted meanwhile: nothing to bring back.
                    self.offline.write().remove(&(name, index));
                    continue;
                }
            };
            if self.partition(&name, index).is_some() {
                self.offline.write().remove(&(name, index));
                continue;
            }
            match self.open_log_within(topic, index, &mut room) {
                Ok(p) => {
                    tracing::info!(topic = %name, partition = index, "offline partition opened; it is online again");
                    self.register(p.clone());
                    // Its replication role (leader or follower) as the image says.
                    if self.apply_role(&image, &p) {
                        self.replication.changed.notify_one();
                    }
                    if &*name == crate::group::OFFSETS_TOPIC {
                        self.groups.leadership_changed(self, &image);
                    }
                }
                Err(e) => {
                    tracing::debug!(topic = %name, partition = index, error = %e, "offline partition still cannot be opened");
                    self.offline.write().insert((name, index), e.to_string());
                }
            }
        }
    }

    /// `<log.dirs>/<topic>-<partition>`, Kafka's layout.
    pub fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.config.log_dir.join(format!("{topic}-{index}"))
    }

    /// Renames partition directories that the metadata does not know (a delete
    /// interrupted by a crash, a directory copied in by hand) to `<name>-stray`, as Kafka
    /// does, and logs each. Nothing is deleted: the data stays for an operator to judge.
    fn mark_stray_dirs(&self) {
        let entries = match std::fs::read_dir(&self.config.log_dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(dir = %self.config.log_dir.display(), error = %e, "cannot list the data directory to look for stray partitions");
                return;
            }
        };
        let image = self.image();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some((topic, idx)) = crate::metadata::format::parse_partition_dir(&name) else {
                continue;
            };
            if !e.path().is_dir() {
                continue;
            }
            let known = image
                .topic(topic)
                .is_some_and(|t| idx < t.partition_count() && self.hosts(t, idx));
            if known {
                continue;
            }
            let target = stray_name(&self.config.log_dir, &name);
            match std::fs::rename(e.path(), &target) {
                Ok(()) => {
                    let _ = crate::metadata::sync_dir(&self.config.log_dir);
                    tracing::warn!(dir = %e.path().display(), renamed_to = %target.display(), "partition directory unknown to the cluster metadata; renamed it as stray (not deleted)")
                }
                Err(err) => {
                    tracing::warn!(dir = %e.path().display(), error = %err, "partition directory unknown to the cluster metadata; could not rename it as stray")
                }
            }
        }
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.partitions.read().get(topic)?.get(&index).cloned()
    }

    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .values()
            .flat_map(|t| t.values().cloned())
            .collect()
    }

    /// Unregisters and returns a topic's partitions (for deletion), and forgets which of
    /// them were offline.
    pub fn take_partitions(&self, topic: &str) -> Vec<Arc<Partition>> {
        self.offline.write().retain(|(t, _), _| &**t != topic);
        let removed = self.partitions.write().remove(topic);
        removed
            .map(|t| t.into_values().collect())
            .unwrap_or_default()
    }

    /// Unregisters and returns one partition (a replica moved away from this broker).
    pub(crate) fn take_partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.offline
            .write()
            .retain(|(t, i), _| &**t != topic || *i != index);
        let mut partitions = self.partitions.write();
        let parts = partitions.get_mut(topic)?;
        let taken = parts.remove(&index);
        if parts.is_empty() {
            partitions.remove(topic);
        }
        taken
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.quorum.image()
    }

    /// Whether `topic`'s partition `index` is on the offline list (its log failed to open).
    pub(crate) fn in_offline_list(&self, topic: &Arc<str>, index: i32) -> bool {
        self.offline.read().contains_key(&(topic.clone(), index))
    }

    /// Names of the topics with a partition open here.
    pub(crate) fn open_topics(&self) -> Vec<Arc<str>> {
        self.partitions.read().keys().cloned().collect()
    }

    /// The open partitions of one topic.
    pub(crate) fn partitions_of(&self, topic: &str) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .get(topic)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Writes `meta.properties` once the cluster id is known (a new node of a cluster
    /// learns it from the quorum).
    pub fn ensure_meta_properties(&self, cluster_id: &str) {
        if self.props_written.load(Ordering::Acquire) {
            return;
        }
        let dir = &self.config.log_dir;
        let result = match crate::metadata::MetaProperties::read(dir) {
            Ok(Some(p)) if p.cluster_id == cluster_id => Ok(()),
            Ok(Some(p)) => {
                tracing::error!(ours = %p.cluster_id, quorum = %cluster_id, "meta.properties names another cluster than the metadata quorum");
                Ok(())
            }
            Ok(None) => crate::metadata::format::write_props(dir, cluster_id, self.config.node_id)
                .map(
                    |()| tracing::info!(%cluster_id, dir = %dir.display(), "wrote meta.properties"),
                ),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => self.props_written.store(true, Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "cannot write meta.properties; retrying"),
        }
    }

    pub fn cluster_id(&self) -> String {
        self.image().cluster_id.clone().unwrap_or_default()
    }

    /// A fresh producer id; reserves a new block in the metadata log when needed.
    pub async fn next_producer_id(&self) -> Result<i64, String> {
        let mut block = self.producer_ids.lock().await;
        if block.next >= block.end {
            let done = self
                .submit(Command::AllocateProducerIds {
                    block: PRODUCER_ID_BLOCK,
                })
                .await
                .map_err(|e| {
                    format!(
                        "cannot reserve producer ids in the metadata log: {}",
                        e.message
                    )
                })?;
            let start = done.producer_id_start;
            block.next = start;
            block.end = start + PRODUCER_ID_BLOCK;
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Flushes and closes every log, marking a clean shutdown.
    pub fn close_logs(&self) {
        self.ready.store(false, Ordering::Release);
        // Releases the coordinator's handles on __consumer_offsets so its logs close cleanly.
        self.groups.shutdown();
        let parts: Vec<_> = self
            .partitions
            .write()
            .drain()
            .flat_map(|(_, t)| t.into_values())
            .collect();
        for p in parts {
            let name = format!("{}-{}", p.topic, p.index);
            match Arc::try_unwrap(p) {
                Ok(p) => {
                    if let Err(e) = p.log.close() {
                        tracing::error!(partition = %name, error = %e, "closing log failed");
                    }
                }
                Err(p) => {
                    // Still referenced by a request that outlived the drain period.
                    if let Err(e) = p.log.flush() {
                        tracing::error!(partition = %name, error = %e, "flushing log failed");
                    }
                }
            }
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.log_dir
    }
}

/// `<name>-stray`, or `<name>.<n>-stray` if that is taken.
fn stray_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(format!("{name}-stray"));
    if !first.exists() {
        return first;
    }
    (1..)
        .map(|n| dir.join(format!("{name}.{n}-stray")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}
