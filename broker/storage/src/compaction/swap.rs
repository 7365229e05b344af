//! Installing a cleaned segment with Kafka's rename protocol, and finishing an interrupted
//! one at open.
//!
//! 1. The cleaned files are written and fsynced as `<base>.{log,index,timeindex}.cleaned`.
//! 2. `<base>.log.cleaned` is renamed `<base>.log.swap` and the directory fsynced: from here
//!    the swap is committed, and a crash is finished by [`recover_swaps`].
//! 3. The indexes take their live names (a recovery deletes them, so a crash cannot pair a
//!    new index with an old log).
//! 4. Under the append lock, only if every segment of the group is still in the log
//!    (retention or truncation may have removed one meanwhile): the segment map swaps the
//!    group for the cleaned segment, which reads the `.swap` file through a held descriptor.
//! 5. The group's other segments are deleted and the directory fsynced, so no crash can
//!    bring them back beside the cleaned segment.
//! 6. Under the append lock again, if the cleaned segment is still in the log:
//!    `<base>.log.swap` is renamed `<base>.log` (replacing the old first segment; readers
//!    holding it keep its inode). The directory is fsynced after the lock is released.
//!
//! The lock is held for map updates and renames only: no read, write or fsync happens
//! under it.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::clean::{cleaned_path, Cleaned};
use crate::batch::{BatchHeader, HEADER_LEN};
use crate::checkpoint::sync_dir;
use crate::error::StorageError;
use crate::log::Log;
use crate::segment::{SealedSegment, SegmentFiles};

fn live_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

fn swap_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.log.swap"))
}

fn remove_if_present(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("remove file", path)(e)),
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), StorageError> {
    fs::rename(from, to).map_err(StorageError::io("rename cleaned segment", to))
}

/// Replaces `group` by `cleaned`. `Ok(false)` if the group changed meanwhile: the cleaned
/// files are then removed and the log is as it was.
pub(super) fn install(
    log: &Log,
    group: &[SealedSegment],
    cleaned: &Cleaned,
) -> Result<bool, StorageError> {
    let dir = log.dir();
    let base = cleaned.base;
    let swap = swap_path(dir, base);
    rename(&cleaned_path(dir, base, "log"), &swap)?;
    sync_dir(dir)?;
    for ext in ["index", "timeindex"] {
        let live = live_path(dir, base, ext);
        remove_if_present(&live)?;
        rename(&cleaned_path(dir, base, ext), &live)?;
    }
    let file = File::open(&swap).map_err(StorageError::io("open cleaned segment", &swap))?;
    // Readers of the old segments keep reading their inodes after the renames and deletes.
    for s in group {
        s.files().pin()?;
    }
    let files = SegmentFiles::open(dir, base, &log.cache)?;
    files.pin_file(file);
    files.publish(cleaned.len, cleaned.next_offset);
    files.set_max_timestamp(cleaned.max_timestamp);
    files.mark_verified(); // written and checked by this process
    let files = Arc::new(files);
    let installed = {
        let mut w = log.writer.lock();
        let current = group.iter().all(|s| {
            w.sealed
                .get(&s.base_offset())
                .is_some_and(|c| Arc::ptr_eq(c.files(), s.files()))
        });
        if current {
            let mut segments = log.segments.write();
            for s in group {
                w.sealed.remove(&s.base_offset());
                segments.remove(&s.base_offset());
            }
            segments.insert(base, files.clone());
            w.sealed
                .insert(base, SealedSegment::from_files(files.clone()));
        }
        current
    };
    if !installed {
        remove_if_present(&swap)?;
        for ext in ["index", "timeindex"] {
            remove_if_present(&live_path(dir, base, ext))?;
        }
        sync_dir(dir)?;
        return Ok(false);
    }
    for s in &group[1..] {
        s.files().delete()?;
    }
    sync_dir(dir)?;
    {
        let w = log.writer.lock();
        if w.sealed
            .get(&base)
            .is_some_and(|c| Arc::ptr_eq(c.files(), &files))
        {
            rename(&swap, &live_path(dir, base, "log"))?;
        } else {
            // Retention deleted the cleaned segment meanwhile.
            drop(w);
            remove_if_present(&swap)?;
        }
    }
    sync_dir(dir)?;
    files.unpin(); // from here the live name is the cleaned inode
    Ok(true)
}

/// Finishes swaps interrupted by a crash, before the log's segments are listed: each
/// `<base>.log.swap` replaces every segment whose base offset lies in its offset range, and
/// its indexes are deleted so they are rebuilt. A `.cleaned` file is an uncommitted swap and
/// is deleted with the other leftovers.
pub(crate) fn recover_swaps(dir: &Path) -> Result<(), StorageError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    let mut swaps = Vec::new();
    let mut logs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StorageError::io("list log dir", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Some(base) = (stem.len() == 20)
            .then(|| stem.parse::<i64>().ok())
            .flatten()
        else {
            continue;
        };
        match ext {
            "log.swap" => swaps.push(base),
            "log" => logs.push(base),
            _ => {}
        }
    }
    swaps.sort_unstable();
    for base in swaps {
        let swap = swap_path(dir, base);
        // Committed swaps were fsynced whole before their rename: anything else is not ours.
        let Some(next) = next_offset_of(&swap)? else {
            tracing::warn!(file = %swap.display(), "removing a swap file that does not hold whole batches");
            remove_if_present(&swap)?;
            continue;
        };
        let upper = next.max(base + 1);
        for &old in logs.iter().filter(|b| (base..upper).contains(*b)) {
            for ext in ["log", "index", "timeindex"] {
                remove_if_present(&live_path(dir, old, ext))?;
            }
        }
        for ext in ["index", "timeindex"] {
            remove_if_present(&live_path(dir, base, ext))?;
        }
        sync_dir(dir)?;
        rename(&swap, &live_path(dir, base, "log"))?;
        sync_dir(dir)?;
        tracing::warn!(
            segment = %live_path(dir, base, "log").display(),
            replaced_below = upper,
            "finished a cleaner swap interrupted by a crash"
        );
    }
    Ok(())
}

/// One past the last offset of the batches of `path` (`i64::MIN` for an empty file: a group
/// that lost every record), or `None` unless whole batches fill it exactly.
fn next_offset_of(path: &Path) -> Result<Option<i64>, StorageError> {
    let file = File::open(path).map_err(StorageError::io("open swap file", path))?;
    let len = file
        .metadata()
        .map_err(StorageError::io("stat swap file", path))?
        .len();
    let mut position = 0u64;
    let mut next = i64::MIN;
    let mut buf = [0u8; HEADER_LEN];
    while position + HEADER_LEN as u64 <= len {
        file.read_exact_at(&mut buf, position)
            .map_err(StorageError::io("read swap file", path))?;
        let Ok(header) = BatchHeader::parse(&buf) else {
            return Ok(None);
        };
        if position + header.size() as u64 > len || header.last_offset() < next {
            return Ok(None);
        }
        next = header.last_offset() + 1;
        position += header.size() as u64;
    }
    Ok((position == len).then_some(next))
}
