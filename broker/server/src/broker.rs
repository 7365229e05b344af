//! The broker's shared state: configuration, metadata, partitions, metrics.

use crate::config::{BrokerConfig, Listener};
use crate::metadata::{MetadataImage, MetadataRecord, MetadataStore};
use crate::metrics::Metrics;
use crate::partition::Partition;
use crate::topic_config;
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
}

/// The partitions this broker leads: by topic name (looked up by `&str` without
/// allocating), then by partition index.
type PartitionMap = HashMap<Arc<str>, BTreeMap<i32, Arc<Partition>>>;

/// Everything a request handler can reach. Shared as `Arc<Broker>`.
pub struct Broker {
    pub config: BrokerConfig,
    /// What Metadata tells clients about this broker.
    pub advertised: Listener,
    pub metadata: MetadataStore,
    partitions: RwLock<PartitionMap>,
    pub metrics: Metrics,
    /// The route table; ApiVersions answers from it.
    pub router: crate::router::Router,
    producer_ids: Mutex<ProducerIdBlock>,
    ready: AtomicBool,
    /// The group coordinator (consumer groups and committed offsets).
    pub groups: Arc<crate::group::GroupCoordinator>,
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
    /// Opens the metadata log and every partition log under `log.dirs`.
    pub fn open(config: BrokerConfig, advertised: Listener) -> Result<Broker, StartError> {
        let dir = config.log_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|error| StartError::DataDir {
            path: dir.clone(),
            error,
        })?;
        let metadata = MetadataStore::open(&dir)?;
        if metadata.image().cluster_id.is_none() {
            let cluster_id = new_cluster_id();
            let _ = metadata.commit(|_| {
                Ok::<_, ()>(vec![MetadataRecord::ClusterFormatted {
                    cluster_id: cluster_id.clone(),
                }])
            });
            tracing::info!(%cluster_id, dir = %dir.display(), "formatted a new cluster");
        }
        let groups = crate::group::GroupCoordinator::new(&config);
        let broker = Broker {
            config,
            advertised,
            metadata,
            partitions: RwLock::new(HashMap::new()),
            metrics: Metrics::new(),
            router: crate::router::Router::new(),
            producer_ids: Mutex::new(ProducerIdBlock::default()),
            ready: AtomicBool::new(false),
            groups,
        };
        broker.open_all_logs()?;
        broker.groups.start(&broker);
        broker.remove_orphan_dirs();
        Ok(broker)
    }

    fn open_all_logs(&self) -> Result<(), StartError> {
        let image = self.metadata.image();
        let started = std::time::Instant::now();
        let mut count = 0;
        for topic in image.topics.values() {
            for p in 0..topic.partition_count() {
                self.open_partition(topic, p)?;
                count += 1;
            }
        }
        tracing::info!(
            partitions = count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "logs loaded"
        );
        Ok(())
    }

    /// Opens (creating if needed) one partition's log and registers it.
    pub fn open_partition(
        &self,
        topic: &crate::metadata::TopicImage,
        index: i32,
    ) -> Result<Arc<Partition>, StartError> {
        let dir = self.partition_dir(&topic.name, index);
        let err = |error| StartError::Log {
            topic: topic.name.to_string(),
            partition: index,
            error,
        };
        std::fs::create_dir_all(&dir).map_err(|error| StartError::DataDir {
            path: dir.clone(),
            error,
        })?;
        let log =
            fjord_storage::Log::open(&dir, topic_config::log_config(&self.config, &topic.configs))
                .map_err(err)?;
        let p = Arc::new(Partition::new(topic.name.clone(), topic.id, index, log));
        self.partitions
            .write()
            .entry(topic.name.clone())
            .or_default()
            .insert(index, p.clone());
        Ok(p)
    }

    /// `<log.dirs>/<topic>-<partition>`, Kafka's layout.
    pub fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.config.log_dir.join(format!("{topic}-{index}"))
    }

    /// Partition directories that no topic owns (a delete interrupted by a crash).
    fn remove_orphan_dirs(&self) {
        let Ok(entries) = std::fs::read_dir(&self.config.log_dir) else {
            return;
        };
        let parts = self.partitions.read();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some((topic, idx)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(idx) = idx.parse::<i32>() else {
                continue;
            };
            if topic == "__cluster_metadata" || !e.path().is_dir() {
                continue;
            }
            if !parts.get(topic).is_some_and(|t| t.contains_key(&idx)) {
                tracing::warn!(dir = %e.path().display(), "removing partition directory of a deleted topic");
                let _ = std::fs::remove_dir_all(e.path());
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

    /// Unregisters and returns a topic's partitions (for deletion).
    pub fn take_partitions(&self, topic: &str) -> Vec<Arc<Partition>> {
        let removed = self.partitions.write().remove(topic);
        removed
            .map(|t| t.into_values().collect())
            .unwrap_or_default()
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    pub fn cluster_id(&self) -> String {
        self.image().cluster_id.clone().unwrap_or_default()
    }

    /// A fresh producer id; reserves a new block in the metadata log when needed.
    pub fn next_producer_id(&self) -> Result<i64, String> {
        let mut block = self.producer_ids.lock();
        if block.next >= block.end {
            let mut start = 0;
            self.metadata
                .commit(|img| {
                    start = img.next_producer_id_block;
                    Ok::<_, ()>(vec![MetadataRecord::ProducerIdsAllocated {
                        next: start + PRODUCER_ID_BLOCK,
                    }])
                })
                .map_err(|_| "cannot reserve producer ids in the metadata log".to_string())?;
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

fn new_cluster_id() -> String {
    // Kafka prints cluster ids as URL-safe base64 of a UUID (22 characters).
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut bits: u128 = u128::from_be_bytes(bytes);
    let mut out = String::with_capacity(22);
    for _ in 0..22 {
        out.push(ALPHABET[(bits & 63) as usize] as char);
        bits >>= 6;
    }
    out
}
