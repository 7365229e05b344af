//! The leader-epoch cache of a partition (KIP-101): for every leader epoch that wrote to the
//! log, the first offset it wrote. A follower asks its leader where its own last epoch ends
//! (OffsetForLeaderEpoch) and truncates there, so it never keeps a record the leader lacks.
//!
//! On disk: `leader-epoch-checkpoint`, Kafka's text format — a version line `0`, a count
//! line, then one `<epoch> <start offset>` line per entry, oldest first. Written to a
//! temporary file, fsynced and renamed over the old one (then the directory fsynced), so a
//! crash leaves the old or the new list. Reading is bounded: a file over
//! [`MAX_FILE_BYTES`] or one whose lines do not parse, disagree with the count or are not
//! strictly increasing is reported as corrupt, never trusted; the log then rebuilds the cache
//! from its batch headers.
//!
//! Not thread-safe by itself: the log keeps it under its append lock.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::checkpoint::{count_fsync, sync_dir};
use crate::error::StorageError;

/// The file's name in the partition directory (Kafka's).
pub(crate) const FILE: &str = "leader-epoch-checkpoint";

/// Largest file read: 64 Ki entries of the longest lines (an epoch and an offset, 32 bytes).
/// A real partition has a few hundred epochs at most.
pub(crate) const MAX_FILE_BYTES: u64 = 2 << 20;

/// Kafka's "no epoch" / "no offset" answers (`UNDEFINED_EPOCH`, `UNDEFINED_EPOCH_OFFSET`).
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One leader epoch and the first offset written under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The entries, strictly increasing in both epoch and start offset.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    pub(crate) fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub(crate) fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// Would [`LeaderEpochCache::assign`] change anything?
    pub(crate) fn needs(&self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        self.latest()
            .is_none_or(|l| l.epoch != epoch || start_offset < l.start_offset)
    }

    /// Records that `epoch` starts at `start_offset`. Entries that would break monotonicity
    /// (an epoch at or above it, or a start at or after it) are dropped first, as Kafka does:
    /// they can only be left from a log that was truncated behind the cache's back. Answers
    /// whether the cache changed.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if !self.needs(epoch, start_offset) {
            return false;
        }
        while self
            .latest()
            .is_some_and(|l| l.epoch >= epoch || l.start_offset >= start_offset)
        {
            self.entries.pop();
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Drops the entries starting at or after `end` (the log was truncated to `end`).
    pub(crate) fn truncate_from_end(&mut self, end: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end);
        self.entries.len() != before
    }

    /// The log now starts at `start`: entries before it go, except the last of them, which
    /// now starts at `start` (its epoch still owns the records from there).
    pub(crate) fn truncate_from_start(&mut self, start: i64) -> bool {
        let below = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start)
            .count();
        if below == 0 || (below == 1 && self.entries[0].start_offset == start) {
            return false;
        }
        let mut kept = self.entries[below - 1];
        kept.start_offset = start;
        self.entries.drain(..below);
        self.entries.insert(0, kept);
        true
    }

    pub(crate) fn clear(&mut self) -> bool {
        let had = !self.entries.is_empty();
        self.entries.clear();
        had
    }

    /// Kafka's `endOffsetFor`: the largest epoch `<= requested` and the offset where it ends
    /// (the start of the next higher epoch, or `log_end` for the latest epoch). An epoch older
    /// than every entry answers itself with the first entry's start (its records are gone from
    /// the log, the follower replicates from there); an unknown newer one, or none cached,
    /// answers `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`.
    pub(crate) fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested == UNDEFINED_EPOCH {
            return undefined;
        }
        if self.latest().is_some_and(|l| l.epoch == requested) {
            return (requested, log_end);
        }
        let higher = self.entries.iter().position(|e| e.epoch > requested);
        match higher {
            None => undefined,
            Some(0) => (requested, self.entries[0].start_offset),
            Some(i) => (self.entries[i - 1].epoch, self.entries[i].start_offset),
        }
    }

    /// The epoch of the batch holding `offset` (the last entry starting at or before it).
    pub(crate) fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .take_while(|e| e.start_offset <= offset)
            .last()
            .map(|e| e.epoch)
    }

    /// Reads the checkpoint in `dir`: `Ok(None)` if there is none, [`StorageError::CorruptLog`]
    /// if it cannot be trusted.
    pub(crate) fn read(dir: &Path) -> Result<Option<LeaderEpochCache>, StorageError> {
        let path = dir.join(FILE);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io("open leader epoch checkpoint", &path)(e)),
        };
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| corrupt(&path, format!("unreadable: {e}")))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(corrupt(
                &path,
                format!("larger than {MAX_FILE_BYTES} bytes"),
            ));
        }
        parse(&text)
            .map(Some)
            .map_err(|reason| corrupt(&path, reason))
    }

    /// Writes the checkpoint atomically and durably (see the module doc).
    pub(crate) fn write(&self, dir: &Path) -> Result<(), StorageError> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        let tmp = dir.join(format!("{FILE}.tmp"));
        let path = dir.join(FILE);
        let mut f = fs::File::create(&tmp)
            .map_err(StorageError::io("create leader epoch checkpoint", &tmp))?;
        f.write_all(text.as_bytes())
            .and_then(|()| {
                count_fsync();
                f.sync_all()
            })
            .map_err(StorageError::io("write leader epoch checkpoint", &tmp))?;
        fs::rename(&tmp, &path)
            .map_err(StorageError::io("rename leader epoch checkpoint", &path))?;
        sync_dir(dir)
    }
}

fn corrupt(path: &Path, reason: String) -> StorageError {
    StorageError::CorruptLog {
        path: PathBuf::from(path),
        reason,
    }
}

/// Parses the text of a checkpoint; the entries are pushed one by one as they parse, never
/// preallocated from the count line.
fn parse(text: &str) -> Result<LeaderEpochCache, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some("0") => {}
        other => return Err(format!("unknown version line {other:?}")),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("missing or bad count line")?;
    let mut cache = LeaderEpochCache::default();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(epoch), Some(start), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("line {}: expected `epoch offset`", i + 3));
        };
        let (Ok(epoch), Ok(start_offset)) = (epoch.parse::<i32>(), start.parse::<i64>()) else {
            return Err(format!("line {}: not numbers", i + 3));
        };
        if epoch < 0 || start_offset < 0 {
            return Err(format!("line {}: negative epoch or offset", i + 3));
        }
        if cache
            .latest()
            .is_some_and(|l| l.epoch >= epoch || l.start_offset >= start_offset)
        {
            return Err(format!("line {}: entries not increasing", i + 3));
        }
        if cache.entries.len() == count {
            return Err(format!("more entries than the count {count}"));
        }
        cache.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
    }
    if cache.entries.len() != count {
        return Err(format!(
            "count says {count} entries, found {}",
            cache.entries.len()
        ));
    }
    Ok(cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for &(e, o) in entries {
            assert!(c.assign(e, o));
        }
        c
    }

    #[test]
    fn end_offset_is_the_next_epochs_start_or_the_log_end_for_the_latest() {
        let c = cache(&[(1, 0), (3, 10), (6, 25)]);
        assert_eq!(c.end_offset_for(6, 40), (6, 40), "latest: the log end");
        assert_eq!(c.end_offset_for(3, 40), (3, 25));
        assert_eq!(
            c.end_offset_for(4, 40),
            (3, 25),
            "largest epoch <= requested"
        );
        assert_eq!(c.end_offset_for(5, 40), (3, 25));
        assert_eq!(c.end_offset_for(1, 40), (1, 10));
        assert_eq!(
            c.end_offset_for(0, 40),
            (0, 0),
            "older than all: first start"
        );
        assert_eq!(
            c.end_offset_for(7, 40),
            (-1, -1),
            "newer than all: undefined"
        );
        assert_eq!(c.end_offset_for(-1, 40), (-1, -1));
        assert_eq!(LeaderEpochCache::default().end_offset_for(0, 5), (-1, -1));
    }

    #[test]
    fn assign_keeps_entries_monotonic() {
        let mut c = cache(&[(1, 0), (2, 5)]);
        assert!(!c.assign(2, 7), "same epoch, later offset: nothing new");
        assert!(!c.assign(-1, 9), "unstamped batches are ignored");
        assert!(c.assign(2, 3), "same epoch, earlier start replaces it");
        assert_eq!(c.entries(), cache(&[(1, 0), (2, 3)]).entries());
        assert!(
            c.assign(1, 4),
            "an older epoch drops every entry not below it, as Kafka does"
        );
        assert_eq!(c.entries(), cache(&[(1, 4)]).entries());
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(1, 0), (3, 10), (6, 25)]);
        assert!(c.truncate_from_end(25));
        assert_eq!(c.entries(), cache(&[(1, 0), (3, 10)]).entries());
        assert!(!c.truncate_from_end(11));
        assert!(c.truncate_from_start(12));
        assert_eq!(c.entries(), cache(&[(3, 12)]).entries());
        assert!(!c.truncate_from_start(12));
        assert!(!c.truncate_from_start(5), "the start never moves back");
        assert_eq!(c.epoch_for_offset(11), None);
        assert_eq!(c.epoch_for_offset(40), Some(3));
    }

    #[test]
    fn the_checkpoint_round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(&[(0, 0), (4, 17)]);
        c.write(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(text, "0\n2\n0 0\n4 17\n");
        assert_eq!(LeaderEpochCache::read(dir.path()).unwrap(), Some(c));
        assert_eq!(
            LeaderEpochCache::read(tempfile::tempdir().unwrap().path()).unwrap(),
            None
        );
    }

    #[test]
    fn a_corrupt_or_oversized_checkpoint_is_refused() {
        for text in [
            "1\n0\n",
            "0\n",
            "0\n99999999999999\n",
            "0\n2\n0 0\n",
            "0\n1\n0 0\n1 5\n",
            "0\n2\n3 0\n2 5\n",
            "0\n2\n0 5\n1 5\n",
            "0\n1\n0 x\n",
            "0\n1\n-2 0\n",
            "0\n1\n0 0 0\n",
        ] {
            assert!(parse(text).is_err(), "{text:?} must be refused");
        }
        let dir = tempfile::tempdir().unwrap();
        let mut big = String::from("0\n1\n0 0\n");
        big.push_str(&" ".repeat(MAX_FILE_BYTES as usize));
        fs::write(dir.path().join(FILE), big).unwrap();
        assert!(matches!(
            LeaderEpochCache::read(dir.path()),
            Err(StorageError::CorruptLog { .. })
        ));
    }
}
