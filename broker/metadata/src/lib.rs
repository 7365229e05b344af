//! fjord-metadata: the cluster metadata and its replicated log, without sockets.
//!
//! - [`record`]: every metadata change is a [`MetadataRecord`];
//! - [`image`]: the [`MetadataImage`] folded from them;
//! - [`raft`]: the openraft type configuration (a log entry is a batch of records);
//! - [`log_store`]: the Raft log on disk (`cluster-metadata/metadata.log`, checksummed
//!   lines, votes and purges included), with the import of the pre-Raft record log;
//! - [`state_machine`]: every voter applies committed entries to its image and
//!   snapshots it (the snapshot is the records that rebuild the image).
//!
//! The network (RPCs between voters) and the controller's wiring live in the broker.

pub mod image;
pub mod line_file;
pub mod log_store;
pub mod raft;
pub mod record;
pub mod security;
pub mod state_machine;

pub use image::{BrokerImage, Leadership, MetadataImage, Reassigning, TopicImage};
pub use record::{BrokerEndpoint, MetadataRecord};

use std::path::PathBuf;

/// Errors of the metadata storage.
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

/// The metadata log's file name inside its directory.
pub const LOG_FILE: &str = "metadata.log";
/// The snapshot's file name inside the metadata directory.
pub const SNAPSHOT_FILE: &str = "snapshot.json";
