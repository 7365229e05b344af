//! Small per-partition files: the recovery point, the log start offset and the clean-shutdown
//! marker.
//!
//! Format of an offset file: two text lines, the format version `0` and the offset, written to
//! a temporary file, fsynced and renamed over the old one so a crash leaves the old or the new
//! value, never a mix. Free functions; no shared state.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::blocking;
use crate::error::StorageError;

/// Offset below which every batch was fsynced; recovery re-validates from here.
pub(crate) const RECOVERY_POINT: &str = "recovery-point-offset-checkpoint";
/// The log start offset, which DeleteRecords can move inside a segment.
pub(crate) const LOG_START: &str = "log-start-offset-checkpoint";
/// Present only between a clean close and the next open.
pub(crate) const CLEAN_SHUTDOWN: &str = ".kafka_cleanshutdown";

pub(crate) fn write_offset(dir: &Path, name: &str, offset: i64) -> Result<(), StorageError> {
    blocking::check("write checkpoint");
    #[cfg(test)]
    ON_WRITE.with(|hook| {
        if let Some(hook) = &*hook.borrow() {
            hook(name);
        }
    });
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = fs::File::create(&tmp).map_err(StorageError::io("create checkpoint", &tmp))?;
    f.write_all(format!("0\n{offset}\n").as_bytes())
        .and_then(|()| {
            count_fsync();
            f.sync_all()
        })
        .map_err(StorageError::io("write checkpoint", &tmp))?;
    fs::rename(&tmp, &path).map_err(StorageError::io("rename checkpoint", &path))?;
    sync_dir(dir)
}

/// fsyncs a directory, making the creation, rename or removal of its entries durable: without
/// it a crash can lose a new segment file or resurrect a renamed-over one even though the
/// files' own contents were fsynced.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    blocking::check("fsync directory");
    count_fsync();
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("fsync directory", dir))
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

/// Creates the marker without fsyncing it: the data was fsynced before, and a marker lost by a
/// crash only costs the next open a recovery. Fsyncing it would cost a broker with ten
/// thousand partitions a minute of shutdown.
pub(crate) fn mark_clean(dir: &Path) -> Result<(), StorageError> {
    let path = dir.join(CLEAN_SHUTDOWN);
    fs::File::create(&path)
        .map(drop)
        .map_err(StorageError::io("write clean-shutdown marker", &path))
}

/// Removes the marker and says whether it was there. The removal is not fsynced here: the log
/// makes it durable before its first write (see `Writer::marker_removal_unsynced`), so opening
/// an idle partition costs no fsync.
pub(crate) fn take_clean_marker(dir: &Path) -> Result<bool, StorageError> {
    let path = dir.join(CLEAN_SHUTDOWN);
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StorageError::io("remove clean-shutdown marker", &path)(e)),
    }
}

/// A test's observer of checkpoint writes (gets the file name).
#[cfg(test)]
pub(crate) type WriteHook = Box<dyn Fn(&str)>;

#[cfg(test)]
thread_local! {
    /// Called by [`write_offset`] on this thread before it writes (tests observe the locks
    /// held around checkpoint writes).
    pub(crate) static ON_WRITE: std::cell::RefCell<Option<WriteHook>> =
        const { std::cell::RefCell::new(None) };
    static FSYNCS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts an fsync (or msync) on this thread, so tests can assert how many an operation costs.
pub(crate) fn count_fsync() {
    #[cfg(test)]
    FSYNCS.with(|c| c.set(c.get() + 1));
}

/// fsyncs issued by this thread so far.
#[cfg(test)]
pub(crate) fn fsyncs() -> usize {
    FSYNCS.with(std::cell::Cell::get)
}
