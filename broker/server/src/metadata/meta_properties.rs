//! `meta.properties`: which cluster and node a data directory belongs to.
//!
//! Kafka's format (KRaft, version 1): a properties file with `cluster.id`, `node.id`,
//! `version` and `directory.id`. It is written once, when the directory is formatted
//! (or adopted from an older Fjord that did not write it), atomically: a temporary
//! file is written and fsynced, renamed over the real one, and the directory fsynced.
//! On every start it is checked against the configuration and the metadata log, so a
//! data directory mounted on the wrong broker or mixed with another cluster's metadata
//! refuses to start instead of being served (or formatted over).

use super::MetadataError;
use std::fs::File;
use std::io::Write;
use std::path::Path;

pub const FILE_NAME: &str = "meta.properties";
const VERSION: &str = "1";

/// The identity recorded in a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    pub directory_id: String,
}

impl MetaProperties {
    /// Reads `<dir>/meta.properties`; `Ok(None)` if there is none.
    pub fn read(dir: &Path) -> Result<Option<MetaProperties>, MetadataError> {
        let path = dir.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let bad = |reason: String| MetadataError::MetaProperties {
            path: path.clone(),
            reason,
        };
        let mut cluster_id = None;
        let mut node_id = None;
        let mut directory_id = String::new();
        let mut version = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(bad(format!("line `{line}` is not key=value")));
            };
            let v = v.trim().to_string();
            match k.trim() {
                "cluster.id" => cluster_id = Some(v),
                "node.id" => {
                    node_id = Some(
                        v.parse::<i32>()
                            .map_err(|_| bad(format!("node.id `{v}` is not an integer")))?,
                    )
                }
                "directory.id" => directory_id = v,
                "version" => version = Some(v),
                _ => {}
            }
        }
        match version.as_deref() {
            Some(VERSION) => {}
            Some(v) => return Err(bad(format!("version {v} is not supported (expected 1)"))),
            None => return Err(bad("it has no version".into())),
        }
        Ok(Some(MetaProperties {
            cluster_id: cluster_id.ok_or_else(|| bad("it has no cluster.id".into()))?,
            node_id: node_id.ok_or_else(|| bad("it has no node.id".into()))?,
            directory_id,
        }))
    }

    /// Writes `<dir>/meta.properties` atomically and durably.
    pub fn write(&self, dir: &Path) -> Result<(), MetadataError> {
        let path = dir.join(FILE_NAME);
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let text = format!(
            "#\n#Written by fjord-broker when this directory was formatted.\n\
             cluster.id={}\ndirectory.id={}\nnode.id={}\nversion={VERSION}\n",
            self.cluster_id, self.directory_id, self.node_id
        );
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        sync_dir(dir)?;
        Ok(())
    }
}

/// Fsyncs a directory, so a rename or a new entry in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_properties_read_back_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), None);
        let props = MetaProperties {
            cluster_id: "AbCdEfGhIjKlMnOpQrStUv".into(),
            node_id: 3,
            directory_id: "zyxwvutsrqponmlkjihgfe".into(),
        };
        props.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        for line in [
            "cluster.id=AbCdEfGhIjKlMnOpQrStUv",
            "node.id=3",
            "version=1",
            "directory.id=zyxwvutsrqponmlkjihgfe",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in {text}");
        }
        assert!(!dir.path().join(format!("{FILE_NAME}.tmp")).exists());
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), Some(props));
    }

    #[test]
    fn a_file_without_node_id_or_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "cluster.id=x\nversion=1\n").unwrap();
        let err = MetaProperties::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("node.id"), "{err}");
        std::fs::write(dir.path().join(FILE_NAME), "cluster.id=x\nnode.id=1\n").unwrap();
        let err = MetaProperties::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("version"), "{err}");
    }
}
