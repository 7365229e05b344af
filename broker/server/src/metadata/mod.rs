//! Cluster metadata: an ordered log of records and the image folded from it.
//!
//! A single node keeps the log in `<log.dirs>/__cluster_metadata-0/`; the image is
//! what every request handler reads. Writers append a record and fold it into the
//! image under one lock, so the two never disagree.

mod image;
mod log;
mod record;

pub use image::{MetadataImage, TopicImage};
pub use log::MetadataLog;
pub use record::MetadataRecord;

use parking_lot::RwLock;
use std::path::Path;
use std::sync::Arc;

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata log I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata record does not encode: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The metadata log plus its image. Safe to share between threads.
pub struct MetadataStore {
    log: parking_lot::Mutex<MetadataLog>,
    image: RwLock<Arc<MetadataImage>>,
}

impl MetadataStore {
    /// Opens (or creates) the log under `dir` and replays it into an image.
    pub fn open(dir: &Path) -> Result<MetadataStore, MetadataError> {
        let (log, records) = MetadataLog::open(&dir.join("__cluster_metadata-0"))?;
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

/// Why a commit did not happen.
#[derive(Debug)]
pub enum CommitError<E> {
    /// The check refused the change.
    Refused(E),
    /// The log could not be written; nothing changed.
    Store(MetadataError),
}
