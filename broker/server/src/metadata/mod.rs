//! Cluster metadata on this node: the records, image and Raft storage live in the
//! `fjord-metadata` crate (re-exported here); this module keeps the data directory's
//! identity (`meta.properties`, formatting checks) and the move of older layouts.
//!
//! The metadata log is in `<log.dirs>/cluster-metadata/` ([`METADATA_DIR`]).

pub mod format;
pub mod meta_properties;

pub use fjord_metadata::line_file::LineFile;
pub use fjord_metadata::{
    BrokerEndpoint, BrokerImage, MetadataError, MetadataImage, MetadataRecord, TopicImage,
};
pub use meta_properties::{sync_dir, MetaProperties};

use std::path::Path;

/// The metadata log's directory under `log.dirs`. It has no `-<partition>` suffix, so no
/// topic's partition directory (`<topic>-<partition>`) can ever have this name.
pub const METADATA_DIR: &str = "cluster-metadata";
/// Where versions before [`METADATA_DIR`] kept the log: inside the topic namespace,
/// where a client could create (and delete) a topic of that name.
pub const LEGACY_METADATA_DIR: &str = "__cluster_metadata-0";

/// Moves `__cluster_metadata-0/metadata.log` to `cluster-metadata/metadata.log`, once.
/// Only the log file moves: anything else in the old directory (segments of a topic a
/// client created under that name) stays where the topic namespace expects it.
pub(crate) fn migrate_legacy_dir(data_dir: &Path) -> Result<(), MetadataError> {
    let legacy_dir = data_dir.join(LEGACY_METADATA_DIR);
    let legacy = legacy_dir.join(fjord_metadata::LOG_FILE);
    let dir = data_dir.join(METADATA_DIR);
    let target = dir.join(fjord_metadata::LOG_FILE);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_metadata_log_moves_out_of_the_topic_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join(LEGACY_METADATA_DIR);
        let path = legacy.join(fjord_metadata::LOG_FILE);
        let (mut log, _) =
            fjord_metadata::line_file::LineFile::open::<MetadataRecord>(&path).unwrap();
        let record = MetadataRecord::ClusterFormatted {
            cluster_id: "c".into(),
        };
        log.append(std::slice::from_ref(&record), true).unwrap();
        drop(log);
        let (_log, sm) = format::open_metadata(dir.path(), 0).unwrap();
        assert_eq!(sm.image().cluster_id.as_deref(), Some("c"));
        assert!(dir.path().join(METADATA_DIR).join("metadata.log").is_file());
        assert!(!legacy.exists());
    }

    #[test]
    fn the_metadata_directory_is_no_partition_directory() {
        assert_eq!(format::parse_partition_dir(METADATA_DIR), None);
    }
}
