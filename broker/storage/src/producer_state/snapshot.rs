//! Producer state snapshots, written at every segment roll (as Kafka does) and by a clean close,
//! so that opening a log replays only the batch headers after the newest usable snapshot
//! instead of the whole log.
//!
//! File `<offset, 20 digits>.snapshot` in the partition directory (the state after every batch
//! below `offset`), big-endian:
//! `version i16 (=1) | crc u32 (CRC-32C of everything after it) | producerCount i32 |
//! producerCount × (producerId i64 | epoch i16 | batchCount i8 |
//! batchCount × (firstSeq i32 | lastSeq i32 | firstOffset i64 | lastOffset i64 |
//! maxTimestamp i64))`. Open uses the newest snapshot at or below the log end whose CRC holds
//! (a snapshot of a roll may be torn by a crash: it is fsynced with the sealed segment, off the
//! append lock) and deletes those above the log end. Only the newest [`KEPT`] are kept. Free
//! functions, no shared state.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{BatchMetadata, ProducerEntry, ProducerStates, RETAINED_BATCHES};
use crate::checkpoint;
use crate::error::StorageError;

const VERSION: i16 = 1;
/// Snapshots kept: the newest, and the one before in case the newest was torn by a crash.
pub(crate) const KEPT: usize = 2;
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;

pub(crate) fn path(dir: &Path, log_end: i64) -> PathBuf {
    dir.join(format!("{log_end:020}.snapshot"))
}

/// Writes the snapshot of `state` at `offset` through a temporary file and a rename; with
/// `sync` the file and the directory are fsynced before returning (else the caller does it).
pub(crate) fn write(
    dir: &Path,
    offset: i64,
    state: &ProducerStates,
    sync: bool,
) -> Result<PathBuf, StorageError> {
    let mut body = Vec::new();
    body.extend_from_slice(&(state.producers.len() as i32).to_be_bytes());
    for (pid, entry) in &state.producers {
        body.extend_from_slice(&pid.to_be_bytes());
        body.extend_from_slice(&entry.epoch.to_be_bytes());
        body.push(entry.batches.len() as u8);
        for b in &entry.batches {
            body.extend_from_slice(&b.first_seq.to_be_bytes());
            body.extend_from_slice(&b.last_seq.to_be_bytes());
            body.extend_from_slice(&b.first_offset.to_be_bytes());
            body.extend_from_slice(&b.last_offset.to_be_bytes());
            body.extend_from_slice(&b.max_timestamp.to_be_bytes());
        }
    }
    let mut file = VERSION.to_be_bytes().to_vec();
    file.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    file.extend_from_slice(&body);
    let final_path = path(dir, offset);
    let tmp = final_path.with_extension("snapshot.tmp");
    let mut f = fs::File::create(&tmp).map_err(StorageError::io("create snapshot", &tmp))?;
    f.write_all(&file)
        .and_then(|()| match sync {
            true => {
                checkpoint::count_fsync();
                f.sync_all()
            }
            false => Ok(()),
        })
        .map_err(StorageError::io("write snapshot", &tmp))?;
    fs::rename(&tmp, &final_path).map_err(StorageError::io("rename snapshot", &final_path))?;
    if sync {
        checkpoint::sync_dir(dir)?;
    }
    Ok(final_path)
}

/// fsyncs a snapshot written without `sync` (its directory is the caller's to sync).
pub(crate) fn sync(path: &Path) -> Result<(), StorageError> {
    checkpoint::count_fsync();
    match fs::File::open(path).and_then(|f| f.sync_all()) {
        Ok(()) => Ok(()),
        // Pruned meanwhile by a newer roll: nothing to make durable.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("fsync snapshot", path)(e)),
    }
}

/// The snapshots in `dir` by offset, oldest first.
pub(crate) fn list(dir: &Path) -> Result<Vec<(i64, PathBuf)>, StorageError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(StorageError::io("list log dir", dir))? {
        let entry = entry.map_err(StorageError::io("list log dir", dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".snapshot")) else {
            continue;
        };
        if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(offset) = stem.parse::<i64>() {
                found.push((offset, entry.path()));
            }
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Deletes every snapshot above `max_offset` (after a truncation) and all but the newest
/// [`KEPT`] of the rest.
pub(crate) fn prune(dir: &Path, max_offset: i64) -> Result<(), StorageError> {
    let mut kept = 0;
    for (offset, p) in list(dir)?.iter().rev() {
        if offset <= &max_offset && kept < KEPT {
            kept += 1;
            continue;
        }
        fs::remove_file(p).map_err(StorageError::io("remove producer snapshot", p))?;
    }
    Ok(())
}

/// The state in `path`, or `None` (logged) if the file is unreadable or fails its checks.
pub(crate) fn read(path: &Path) -> Option<ProducerStates> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read producer snapshot");
            return None;
        }
    };
    let state = decode(&bytes);
    if state.is_none() {
        tracing::warn!(file = %path.display(), "ignoring corrupt producer snapshot");
    }
    state
}

/// A bounds-checked big-endian reader.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

fn decode(bytes: &[u8]) -> Option<ProducerStates> {
    let mut c = Cursor(bytes);
    if i16::from_be_bytes(c.take()?) != VERSION {
        return None;
    }
    let crc = u32::from_be_bytes(c.take()?);
    if crc32c::crc32c(c.0) != crc {
        return None;
    }
    let count = usize::try_from(i32::from_be_bytes(c.take()?)).ok()?;
    let mut state = ProducerStates::default();
    for _ in 0..count {
        let pid = i64::from_be_bytes(c.take()?);
        let epoch = i16::from_be_bytes(c.take()?);
        let n = usize::from(u8::from_be_bytes(c.take()?));
        if n > RETAINED_BATCHES || c.0.len() < n * BATCH_BYTES {
            return None;
        }
        let mut batches = VecDeque::with_capacity(n);
        for _ in 0..n {
            batches.push_back(BatchMetadata {
                first_seq: i32::from_be_bytes(c.take()?),
                last_seq: i32::from_be_bytes(c.take()?),
                first_offset: i64::from_be_bytes(c.take()?),
                last_offset: i64::from_be_bytes(c.take()?),
                max_timestamp: i64::from_be_bytes(c.take()?),
            });
        }
        state
            .producers
            .insert(pid, ProducerEntry { epoch, batches });
    }
    c.0.is_empty().then_some(state)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::batch::BatchHeader;
    use crate::testutil::BatchBuilder;
    use crate::{Log, LogConfig};

    #[test]
    fn a_snapshot_round_trips_and_a_flipped_byte_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = ProducerStates::default();
        for seq in 0..7 {
            let b = BatchBuilder::new(2).producer(11, 1, seq * 2).build();
            let mut h = BatchHeader::parse(&b).unwrap();
            h.base_offset = i64::from(seq) * 2;
            let mut staged = HashMap::new();
            state.stage(&mut staged, &h);
            state.commit(staged);
        }
        write(dir.path(), 14, &state, true).unwrap();
        let p = path(dir.path(), 14);
        let back = read(&p).unwrap();
        let entry = &back.producers[&11];
        assert_eq!(entry.epoch, 1);
        assert_eq!(entry.batches.len(), 5);
        assert_eq!(entry.batches.back().unwrap().last_offset, 13);

        let mut bytes = fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&p, bytes).unwrap();
        assert!(read(&p).is_none());
    }

    #[test]
    fn a_corrupt_snapshot_falls_back_to_scanning_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        let first = BatchBuilder::new(1).producer(4, 0, 0).build();
        log.append(&first, 0, 0).unwrap();
        log.close().unwrap();
        let p = path(dir.path(), 1);
        fs::write(&p, b"garbage").unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        assert!(!p.exists(), "snapshots are consumed by open");
        assert!(log.append(&first, 0, 0).unwrap().duplicate);
    }
}
