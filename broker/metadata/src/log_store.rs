//! The Raft log of the metadata quorum on disk.
//!
//! On-disk format: `<dir>/metadata.log`, checksummed lines ([`LineFile`]), each a
//! [`LogLine`]: a log entry, a vote, the commit index, a purge point or a truncation.
//! Opening replays the lines in order. Entries and votes are fsynced before openraft is
//! told they are durable; the commit index is only a hint for a faster restart and is
//! not fsynced. Purging (after a snapshot) rewrites the file with what is left, so the
//! file never grows beyond what came after the last snapshot.
//!
//! A file written before the quorum existed holds bare metadata records instead; opening
//! returns them so [`crate::state_machine::open_storage`] can import them.
//!
//! [`LogStore`] is cheap to clone and safe to share between threads (one lock).

use crate::line_file::LineFile;
use crate::raft::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::{MetadataError, MetadataRecord, LOG_FILE};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One line of the metadata log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLine {
    Entry(Entry),
    Vote(Vote),
    Committed(Option<LogId>),
    /// Entries up to and including this one are in a snapshot and gone.
    Purged(LogId),
    /// Entries from this index on were replaced by a new leader's.
    TruncatedFrom(u64),
}

/// A line as found on disk: the current format, or a record of the pre-quorum log.
/// (Decoded by hand: serde's untagged enums cannot read the integer map keys of a
/// membership.)
enum AnyLine {
    Raft(Box<LogLine>),
    Legacy(MetadataRecord),
}

fn decode_any(json: &[u8]) -> Result<AnyLine, &'static str> {
    if let Ok(l) = serde_json::from_slice::<LogLine>(json) {
        return Ok(AnyLine::Raft(Box::new(l)));
    }
    serde_json::from_slice::<MetadataRecord>(json)
        .map(AnyLine::Legacy)
        .map_err(|_| "record does not decode")
}

struct Inner {
    file: LineFile,
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    committed: Option<LogId>,
    last_purged: Option<LogId>,
}

/// The metadata Raft log. Clones share one log.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    /// Bytes in the log file: what was appended since the last snapshot.
    size: Arc<AtomicU64>,
}

fn io(e: MetadataError) -> StorageError {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

/// Runs the log file's writes and fsyncs on the blocking pool: openraft calls the store from
/// the runtime's worker threads, where they would stall every task sharing the thread. Each
/// call is awaited before openraft makes the next, so the file sees them in order.
#[allow(clippy::result_large_err)]
async fn off_worker<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, StorageError> + Send + 'static,
) -> Result<R, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StorageIOError::write_logs(AnyError::new(&e)).into()))
}

impl LogStore {
    /// Opens `<dir>/metadata.log`. Returns the store and, for a pre-quorum log, its
    /// records (the store is then empty until the import resets it).
    pub fn open(dir: &Path) -> Result<(LogStore, Vec<MetadataRecord>), MetadataError> {
        let (file, lines) = LineFile::open_with(&dir.join(LOG_FILE), decode_any)?;
        let mut inner = Inner {
            file,
            entries: BTreeMap::new(),
            vote: None,
            committed: None,
            last_purged: None,
        };
        let mut legacy = Vec::new();
        for line in lines {
            match line {
                AnyLine::Legacy(r) => legacy.push(r),
                AnyLine::Raft(l) => inner.replay(*l),
            }
        }
        let size = Arc::new(AtomicU64::new(inner.file.len()));
        let store = LogStore {
            inner: Arc::new(Mutex::new(inner)),
            size,
        };
        Ok((store, legacy))
    }

    /// Replaces the whole log by a purge point: used after importing a pre-quorum log
    /// into a snapshot ending at `purged`.
    pub fn reset_to(&self, purged: LogId) -> Result<(), MetadataError> {
        let mut inner = self.inner.lock();
        inner.entries.clear();
        inner.last_purged = Some(purged);
        inner.committed = Some(purged);
        inner.rewrite()?;
        self.size.store(inner.file.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Bytes of the log file (what came after the last snapshot).
    pub fn size(&self) -> Arc<AtomicU64> {
        self.size.clone()
    }

    /// Whether the log holds nothing at all: no entry, vote or purge point.
    pub fn is_pristine(&self) -> bool {
        let inner = self.inner.lock();
        inner.entries.is_empty() && inner.vote.is_none() && inner.last_purged.is_none()
    }

    /// The records of every entry still in the log, in order (for start-up checks).
    pub fn records(&self) -> Vec<MetadataRecord> {
        let inner = self.inner.lock();
        inner
            .entries
            .values()
            .filter_map(|e| match &e.payload {
                openraft::EntryPayload::Normal(p) => Some(p.records.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The index of the last entry (or purge point).
    pub fn last_index(&self) -> u64 {
        let inner = self.inner.lock();
        inner.last_log_id().map_or(0, |l| l.index)
    }

    // openraft's storage API fixes the error type; it is large, and rare.
    #[allow(clippy::result_large_err)]
    fn write(&self, line: LogLine, sync: bool) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner
            .file
            .append(std::slice::from_ref(&line), sync)
            .map_err(io)?;
        self.size.store(inner.file.len(), Ordering::Relaxed);
        inner.replay(line);
        Ok(())
    }
}

impl Inner {
    fn replay(&mut self, line: LogLine) {
        match line {
            LogLine::Entry(e) => {
                self.entries.insert(e.log_id.index, e);
            }
            LogLine::Vote(v) => self.vote = Some(v),
            LogLine::Committed(c) => self.committed = c,
            LogLine::Purged(id) => {
                self.entries = self.entries.split_off(&(id.index + 1));
                self.last_purged = Some(id);
            }
            LogLine::TruncatedFrom(index) => {
                self.entries.split_off(&index);
            }
        }
    }

    fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(self.last_purged)
    }

    /// Rewrites the file with exactly the current state.
    fn rewrite(&mut self) -> Result<(), MetadataError> {
        let mut lines: Vec<LogLine> = Vec::with_capacity(self.entries.len() + 3);
        if let Some(v) = self.vote {
            lines.push(LogLine::Vote(v));
        }
        if let Some(p) = self.last_purged {
            lines.push(LogLine::Purged(p));
        }
        lines.extend(self.entries.values().cloned().map(LogLine::Entry));
        if self.committed.is_some() {
            lines.push(LogLine::Committed(self.committed));
        }
        self.file = LineFile::replace(self.file.path(), &lines)?;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.inner.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

// openraft's storage API fixes the error type (large, and rare) for the closures too.
#[allow(clippy::result_large_err)]
impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock();
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: inner.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let (store, vote) = (self.clone(), *vote);
        off_worker(move || store.write(LogLine::Vote(vote), true)).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.inner.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let store = self.clone();
        off_worker(move || store.write(LogLine::Committed(committed), false)).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.inner.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let lines: Vec<LogLine> = entries.into_iter().map(LogLine::Entry).collect();
        let store = self.clone();
        off_worker(move || {
            let mut inner = store.inner.lock();
            let written = inner.file.append(&lines, true);
            store.size.store(inner.file.len(), Ordering::Relaxed);
            match written {
                Ok(()) => {
                    for l in lines {
                        inner.replay(l);
                    }
                    drop(inner);
                    callback.log_io_completed(Ok(()));
                    Ok(())
                }
                Err(e) => {
                    drop(inner);
                    callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                    Err(io(e))
                }
            }
        })
        .await
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let store = self.clone();
        off_worker(move || store.write(LogLine::TruncatedFrom(log_id.index), true)).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let store = self.clone();
        off_worker(move || {
            let mut inner = store.inner.lock();
            inner.replay(LogLine::Purged(log_id));
            inner.rewrite().map_err(io)?;
            store.size.store(inner.file.len(), Ordering::Relaxed);
            tracing::info!(
                up_to = log_id.index,
                bytes = inner.file.len(),
                "metadata log purged behind a snapshot"
            );
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::storage::RaftLogStorage;

    #[tokio::test]
    async fn entries_votes_and_membership_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = LogStore::open(dir.path()).unwrap();
        let members = std::collections::BTreeMap::from([(3u64, openraft::BasicNode::new("a:1"))]);
        let membership = openraft::Membership::new(vec![[3u64].into()], members);
        let id = openraft::LogId::new(openraft::CommittedLeaderId::new(0, 0), 0);
        let entry = openraft::Entry::<TypeConfig> {
            log_id: id,
            payload: openraft::EntryPayload::Membership(membership),
        };
        log.inner
            .lock()
            .file
            .append(&[LogLine::Entry(entry)], true)
            .unwrap();
        log.save_vote(&openraft::Vote::new(2, 3)).await.unwrap();
        drop(log);
        let (mut log, legacy) = LogStore::open(dir.path()).unwrap();
        assert!(legacy.is_empty());
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(openraft::Vote::new(2, 3))
        );
        assert_eq!(log.get_log_state().await.unwrap().last_log_id, Some(id));
    }
}
