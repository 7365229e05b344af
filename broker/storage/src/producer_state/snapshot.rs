//! Producer state snapshot, written by a clean close so the next open need not scan every
//! batch header of the log.
//!
//! File `<log end offset, 20 digits>.snapshot` in the partition directory, big-endian:
//! `version i16 (=1) | crc u32 (CRC-32C of everything after it) | producerCount i32 |
//! producerCount × (producerId i64 | epoch i16 | batchCount i8 |
//! batchCount × (firstSeq i32 | lastSeq i32 | firstOffset i64 | lastOffset i64 |
//! maxTimestamp i64))`. Used only right after a clean shutdown and only if its offset equals
//! the log end offset; deleted by every open. Free functions, no shared state.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{BatchMetadata, ProducerEntry, ProducerStates, RETAINED_BATCHES};
use crate::error::StorageError;

const VERSION: i16 = 1;
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;

pub(crate) fn path(dir: &Path, log_end: i64) -> PathBuf {
    dir.join(format!("{log_end:020}.snapshot"))
}

pub(crate) fn write(dir: &Path, log_end: i64, state: &ProducerStates) -> Result<(), StorageError> {
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
    let final_path = path(dir, log_end);
    let tmp = final_path.with_extension("snapshot.tmp");
    let mut f = fs::File::create(&tmp).map_err(StorageError::io("create snapshot", &tmp))?;
    f.write_all(&file)
        .and_then(|()| f.sync_all())
        .map_err(StorageError::io("write snapshot", &tmp))?;
    fs::rename(&tmp, &final_path).map_err(StorageError::io("rename snapshot", &final_path))
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
        write(dir.path(), 14, &state).unwrap();
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
