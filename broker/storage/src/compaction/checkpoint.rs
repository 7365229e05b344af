//! `cleaner-offset-checkpoint` of one partition: where the cleaner's dirty section starts.
//!
//! Format: three text lines, the version `0`, the first dirty offset (Kafka's meaning: every
//! offset below it has been through the offset map), and the earliest delete horizon of a
//! tombstone still in the log (`-1`: none), so a log becomes cleanable when a horizon passes
//! even without new writes. Kafka keeps one such file per data directory; here each
//! partition directory has its own, so it moves and is deleted with the partition. Written to
//! a temporary file, fsynced and renamed: a crash leaves the old or the new content.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::StorageError;

pub(crate) const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CleanerCheckpoint {
    pub(super) first_dirty: i64,
    pub(super) delete_horizon: i64,
}

/// The stored checkpoint; `None` when missing or malformed (logged): the log then counts as
/// wholly dirty, which costs a pass, never a wrong result.
pub(super) fn read(dir: &Path) -> Result<Option<CleanerCheckpoint>, StorageError> {
    let path = dir.join(CLEANER_CHECKPOINT);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("read cleaner checkpoint", &path)(e)),
    };
    let mut lines = text.lines();
    let version = lines.next();
    let first = lines.next().map(str::parse::<i64>);
    let horizon = lines.next().map(str::parse::<i64>);
    match (version, first, horizon) {
        (Some("0"), Some(Ok(first_dirty)), Some(Ok(delete_horizon))) => {
            Ok(Some(CleanerCheckpoint {
                first_dirty,
                delete_horizon,
            }))
        }
        _ => {
            tracing::warn!(path = %path.display(), "ignoring malformed cleaner checkpoint");
            Ok(None)
        }
    }
}

pub(super) fn write(dir: &Path, c: CleanerCheckpoint) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{CLEANER_CHECKPOINT}.tmp"));
    let path = dir.join(CLEANER_CHECKPOINT);
    let mut f =
        fs::File::create(&tmp).map_err(StorageError::io("create cleaner checkpoint", &tmp))?;
    f.write_all(format!("0\n{}\n{}\n", c.first_dirty, c.delete_horizon).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(StorageError::io("write cleaner checkpoint", &tmp))?;
    fs::rename(&tmp, &path).map_err(StorageError::io("rename cleaner checkpoint", &path))?;
    crate::checkpoint::sync_dir(dir)
}
