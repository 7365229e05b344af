//! Cluster metadata: an ordered log of records and the image folded from it.
//!
//! A single node keeps the log in `<log.dirs>/cluster-metadata/` ([`METADATA_DIR`]);
//! the image is what every request handler reads. Writers append a record and fold it
//! into the image under one lock, so the two never disagree.

pub mod format;
mod image;
mod log;
pub mod meta_properties;
mod record;

pub use image::{MetadataImage, TopicImage};
pub use log::MetadataLog;
pub use meta_properties::{sync_dir, MetaProperties};
pub use record::MetadataRecord;

use parking_lot::RwLock;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The metadata log's directory under `log.dirs`. It has no `-<partition>` suffix, so no
/// topic's partition directory (`<topic>-<partition>`) can ever have this name.
pub const METADATA_DIR: &str = "cluster-metadata";
/// Where versions before [`METADATA_DIR`] kept the log: inside the topic namespace,
/// where a client could create (and delete) a topic of that name.
pub const LEGACY_METADATA_DIR: &str = "__cluster_metadata-0";

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata log I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata record does not encode: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("metadata log {path} is corrupt at byte {position} ({reason}) and records follow it: refusing to start rather than drop them; restore the file or remove the bad record by hand")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    #[error(
        "metadata log {path}: an earlier failed append could not be undone; restart the broker"
    )]
    Poisoned { path: PathBuf },
    #[error("{path}: {reason}")]
    MetaProperties { path: PathBuf, reason: String },
}

/// The metadata log plus its image. Safe to share between threads.
pub struct MetadataStore {
    log: parking_lot::Mutex<MetadataLog>,
    image: RwLock<Arc<MetadataImage>>,
}

impl MetadataStore {
    /// Opens (or creates) the log under `<data_dir>/cluster-metadata` and replays it into
    /// an image, first moving a log left in the legacy place by an older version.
    pub fn open(data_dir: &Path) -> Result<MetadataStore, MetadataError> {
        migrate_legacy_dir(data_dir)?;
        let (log, records) = MetadataLog::open(&data_dir.join(METADATA_DIR))?;
        let mut image = MetadataImage::default();
        for r in records {
            image.apply(r);
        }
        Ok(MetadataStore {
            log: parking_lot::Mutex::new(log),
            image: RwLock::new(Arc::new(image)),
        })
    }

    /// A consistent snapshot of the image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().clone()
    }

    /// Makes `records` durable (fsync) and folds them into the image, atomically with
    /// respect to other writers. `check` runs under the writer lock against the current
    /// image and may refuse the change (e.g. the topic was created meanwhile).
    pub fn commit<E>(
        &self,
        check: impl FnOnce(&MetadataImage) -> Result<Vec<MetadataRecord>, E>,
    ) -> Result<Arc<MetadataImage>, CommitError<E>> {
        let mut log = self.log.lock();
        let current = self.image();
        let records = check(&current).map_err(CommitError::Refused)?;
        if records.is_empty() {
            return Ok(current);
        }
        log.append(&records).map_err(CommitError::Store)?;
        let mut next = (*current).clone();
        for r in records {
            next.apply(r);
        }
        let next = Arc::new(next);
        *self.image.write() = next.clone();
        Ok(next)
    }
}

/// Moves `__cluster_metadata-0/metadata.log` to `cluster-metadata/metadata.log`, once.
/// Only the log file moves: anything else in the old directory (segments of a topic a
/// client created under that name) stays where the topic namespace expects it.
fn migrate_legacy_dir(data_dir: &Path) -> Result<(), MetadataError> {
    let legacy_dir = data_dir.join(LEGACY_METADATA_DIR);
    let legacy = legacy_dir.join(log::FILE_NAME);
    let dir = data_dir.join(METADATA_DIR);
    let target = dir.join(log::FILE_NAME);
    if !legacy.is_file() || target.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    std::fs::rename(&legacy, &target)?;
    sync_dir(&dir)?;
    sync_dir(&legacy_dir)?;
    sync_dir(data_dir)?;
    // The old directory is left empty by the move (unless it held more); an empty
    // directory that looks like a partition would only be reported as stray.
    let _ = std::fs::remove_dir(&legacy_dir);
    tracing::info!(from = %legacy.display(), to = %target.display(), "moved the metadata log out of the topic namespace");
    Ok(())
}

/// Why a commit did not happen.
#[derive(Debug)]
pub enum CommitError<E> {
    /// The check refused the change.
    Refused(E),
    /// The log could not be written; nothing changed.
    Store(MetadataError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_metadata_log_moves_out_of_the_topic_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join(LEGACY_METADATA_DIR);
        let (mut log, _) = MetadataLog::open(&legacy).unwrap();
        let record = MetadataRecord::ClusterFormatted {
            cluster_id: "c".into(),
        };
        log.append(std::slice::from_ref(&record)).unwrap();
        drop(log);
        let store = MetadataStore::open(dir.path()).unwrap();
        assert_eq!(store.image().cluster_id.as_deref(), Some("c"));
        assert!(dir.path().join(METADATA_DIR).join("metadata.log").is_file());
        assert!(!legacy.exists());
    }

    #[test]
    fn the_metadata_directory_is_no_partition_directory() {
        assert_eq!(format::parse_partition_dir(METADATA_DIR), None);
    }
}
