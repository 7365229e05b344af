//! Formatting a data directory, and checking on every start that it belongs to this
//! node and cluster.
//!
//! A data directory is formatted only when it holds nothing: no metadata log, no
//! `meta.properties` and no partition directories. Anything else that does not add up
//! (the metadata log lost but partition data left, `meta.properties` naming another
//! node or cluster) refuses to start with the reason, because formatting a new cluster
//! there would orphan — and used to delete — every partition in it.

use super::{MetaProperties, MetadataError, METADATA_DIR};
use fjord_metadata::log_store::LogStore;
use fjord_metadata::raft::raft_id;
use fjord_metadata::state_machine::{open_storage, StateMachine};
use fjord_metadata::MetadataRecord;
use std::path::Path;

/// Opens the metadata log of `data_dir` (moving or importing an older layout) and
/// checks that the directory belongs to this node and to the cluster its metadata
/// names. A directory with no metadata, no `meta.properties` and no partitions is new:
/// the quorum formats it (the first leader names the cluster) and `meta.properties`
/// is written once the cluster id is known ([`write_props`]).
pub fn open_metadata(
    data_dir: &Path,
    node_id: i32,
) -> Result<(LogStore, StateMachine), MetadataError> {
    super::migrate_legacy_dir(data_dir)?;
    let props = MetaProperties::read(data_dir)?;
    let refuse = |reason: String| MetadataError::MetaProperties {
        path: data_dir.join(super::meta_properties::FILE_NAME),
        reason,
    };
    if let Some(p) = &props {
        if p.node_id != node_id {
            return Err(refuse(format!(
                "this data directory belongs to node.id={}, but the broker is configured with node.id={node_id}; refusing to start",
                p.node_id
            )));
        }
    }
    let (log, sm) = open_storage(&data_dir.join(METADATA_DIR), raft_id(node_id))?;
    let local = sm.image().cluster_id.clone().or_else(|| {
        log.records().into_iter().find_map(|r| match r {
            MetadataRecord::ClusterFormatted { cluster_id } => Some(cluster_id),
            _ => None,
        })
    });
    match (local, props) {
        (Some(id), Some(p)) if p.cluster_id != id => Err(refuse(format!(
            "meta.properties names cluster {} but the metadata log in {} belongs to cluster {id}; refusing to start",
            p.cluster_id,
            data_dir.join(METADATA_DIR).display()
        ))),
        (Some(_), Some(_)) => Ok((log, sm)),
        (Some(id), None) => {
            // Written by a version before meta.properties, or a crash right after formatting.
            write_props(data_dir, &id, node_id)?;
            tracing::info!(cluster_id = %id, dir = %data_dir.display(), "wrote meta.properties for the existing cluster");
            Ok((log, sm))
        }
        (None, Some(p)) => Err(refuse(format!(
            "meta.properties names cluster {} but the metadata log in {} is empty or missing; refusing to format a new cluster over this data directory",
            p.cluster_id,
            data_dir.join(METADATA_DIR).display()
        ))),
        (None, None) => {
            if let Some(dir) = first_partition_dir(data_dir)? {
                return Err(refuse(format!(
                    "the data directory holds partition data ({dir}) but no cluster metadata and no meta.properties; refusing to format a new cluster over it"
                )));
            }
            Ok((log, sm))
        }
    }
}

pub fn write_props(data_dir: &Path, cluster_id: &str, node_id: i32) -> Result<(), MetadataError> {
    MetaProperties {
        cluster_id: cluster_id.to_string(),
        node_id,
        directory_id: new_id(),
    }
    .write(data_dir)
}

/// The name of a directory in `data_dir` that looks like a partition (`<topic>-<n>`).
pub fn first_partition_dir(data_dir: &Path) -> Result<Option<String>, MetadataError> {
    for e in std::fs::read_dir(data_dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if parse_partition_dir(&name).is_some() && e.path().is_dir() {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// `<topic>-<partition>` -> (topic, partition), for names a partition directory can have.
pub fn parse_partition_dir(name: &str) -> Option<(&str, i32)> {
    let (topic, idx) = name.rsplit_once('-')?;
    if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let idx = idx.parse::<i32>().ok()?;
    crate::topics::validate_name(topic).ok()?;
    Some((topic, idx))
}

/// A random id printed as Kafka prints cluster and directory ids: URL-safe base64 of
/// a UUID (22 characters).
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits: u128 = u128::from_be_bytes(uuid::Uuid::new_v4().into_bytes());
    let mut out = String::with_capacity(22);
    for _ in 0..22 {
        out.push(ALPHABET[(bits & 63) as usize] as char);
        bits >>= 6;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjord_metadata::line_file::LineFile;

    /// A data directory formatted as cluster `id` by a pre-quorum version.
    fn formatted(dir: &Path, id: &str) {
        let path = dir.join(METADATA_DIR).join(fjord_metadata::LOG_FILE);
        let (mut f, _) = LineFile::open::<MetadataRecord>(&path).unwrap();
        f.append(
            &[MetadataRecord::ClusterFormatted {
                cluster_id: id.into(),
            }],
            true,
        )
        .unwrap();
    }

    #[test]
    fn an_existing_cluster_gets_meta_properties_and_is_then_recognised() {
        let dir = tempfile::tempdir().unwrap();
        formatted(dir.path(), "clusterAAAAAAAAAAAAAAA");
        open_metadata(dir.path(), 1).unwrap();
        let props = MetaProperties::read(dir.path()).unwrap().unwrap();
        assert_eq!(
            (props.cluster_id.as_str(), props.node_id),
            ("clusterAAAAAAAAAAAAAAA", 1)
        );
        assert_eq!(props.directory_id.len(), 22);
        open_metadata(dir.path(), 1).unwrap();
    }

    #[test]
    fn another_node_id_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        formatted(dir.path(), "c");
        open_metadata(dir.path(), 1).unwrap();
        let err = open_metadata(dir.path(), 2).err().unwrap().to_string();
        assert!(
            err.contains("node.id=1") && err.contains("node.id=2"),
            "{err}"
        );
    }

    #[test]
    fn a_cluster_id_mismatch_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        formatted(dir.path(), "c");
        MetaProperties {
            cluster_id: "someOtherClusterIdXXXX".into(),
            node_id: 0,
            directory_id: new_id(),
        }
        .write(dir.path())
        .unwrap();
        let err = open_metadata(dir.path(), 0).err().unwrap().to_string();
        assert!(err.contains("someOtherClusterIdXXXX"), "{err}");
    }

    #[test]
    fn a_lost_metadata_log_is_not_formatted_over() {
        let dir = tempfile::tempdir().unwrap();
        formatted(dir.path(), "c");
        open_metadata(dir.path(), 0).unwrap();
        std::fs::remove_dir_all(dir.path().join(METADATA_DIR)).unwrap();
        let err = open_metadata(dir.path(), 0).err().unwrap().to_string();
        assert!(err.contains("empty or missing"), "{err}");
    }

    #[test]
    fn partition_data_without_metadata_is_not_formatted_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keep-1")).unwrap();
        let err = open_metadata(dir.path(), 0).err().unwrap().to_string();
        assert!(err.contains("keep-1"), "{err}");
        assert!(MetaProperties::read(dir.path()).unwrap().is_none());
    }

    #[test]
    fn partition_directory_names() {
        assert_eq!(parse_partition_dir("keep-1"), Some(("keep", 1)));
        assert_eq!(parse_partition_dir("a-b-12"), Some(("a-b", 12)));
        for not in [
            "keep-1-stray",
            "cluster-metadata",
            "keep-",
            "-1",
            "keep-+1",
            "x y-1",
        ] {
            assert_eq!(parse_partition_dir(not), None, "{not}");
        }
    }
}
