//! Small per-partition files: the recovery point, the log start offset and the clean-shutdown
//! marker.
//!
//! Format of an offset file: two text lines, the format version `0` and the offset, written to
//! a temporary file, fsynced and renamed over the old one so a crash leaves the old or the new
//! value, never a mix. Free functions; no shared state.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::StorageError;

/// Offset below which every batch was fsynced; recovery re-validates from here.
pub(crate) const RECOVERY_POINT: &str = "recovery-point-offset-checkpoint";
/// The log start offset, which DeleteRecords can move inside a segment.
pub(crate) const LOG_START: &str = "log-start-offset-checkpoint";
/// Present only between a clean close and the next open.
pub(crate) const CLEAN_SHUTDOWN: &str = ".kafka_cleanshutdown";

pub(crate) fn write_offset(dir: &Path, name: &str, offset: i64) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = fs::File::create(&tmp).map_err(StorageError::io("create checkpoint", &tmp))?;
    f.write_all(format!("0\n{offset}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(StorageError::io("write checkpoint", &tmp))?;
    fs::rename(&tmp, &path).map_err(StorageError::io("rename checkpoint", &path))
}

/// The stored offset, or `None` if the file is missing or unreadable (logged: recovery then
/// falls back to the safe choice).
pub(crate) fn read_offset(dir: &Path, name: &str) -> Result<Option<i64>, StorageError> {
    let path = dir.join(name);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("read checkpoint", &path)(e)),
    };
    let mut lines = text.lines();
    match (lines.next(), lines.next().map(str::parse::<i64>)) {
        (Some("0"), Some(Ok(offset))) => Ok(Some(offset)),
        _ => {
            tracing::warn!(path = %path.display(), "ignoring malformed checkpoint file");
            Ok(None)
        }
    }
}

pub(crate) fn mark_clean(dir: &Path) -> Result<(), StorageError> {
    let path = dir.join(CLEAN_SHUTDOWN);
    fs::File::create(&path)
        .and_then(|f| f.sync_all())
        .map_err(StorageError::io("write clean-shutdown marker", &path))
}

/// Removes the marker and says whether it was there.
pub(crate) fn take_clean_marker(dir: &Path) -> Result<bool, StorageError> {
    let path = dir.join(CLEAN_SHUTDOWN);
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StorageError::io("remove clean-shutdown marker", &path)(e)),
    }
}
