//! Scrubbing: CRC checks of segment bytes that this process did not write or validate itself.
//!
//! Bytes appended by this process were validated on the way in, and recovery re-validates the
//! segments after the recovery point; everything else on disk (sealed segments after a clean
//! restart, segments below the recovery point) could have rotted or been overwritten since. Each
//! such batch is CRC-checked before it is first served (the check is over bytes the read has in
//! memory anyway) and, in the background, by [`SegmentFiles::scrub`], driven at a bounded rate by
//! the caller. A corrupt batch is never served: the read fails with
//! [`StorageError::CorruptBatch`] and a log line names the file and byte position.
//!
//! State per segment (atomics in [`SegmentFiles`]): `verified_upto` (bytes below it checked)
//! only grows, and only over a contiguous checked prefix; `scrub_end` (bytes from it on were
//! appended here) only shrinks.

use std::sync::atomic::Ordering;

use super::SegmentFiles;
use crate::batch;
use crate::error::StorageError;

/// What one [`SegmentFiles::scrub`] step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScrubStep {
    /// Bytes checked.
    pub(crate) bytes: u64,
    /// No unchecked bytes are left (or the rest is behind a known corrupt batch).
    pub(crate) done: bool,
}

impl SegmentFiles {
    /// Marks every byte present as checked (a full CRC rescan, or a file this process wrote).
    pub(crate) fn mark_verified(&self) {
        self.scrub_end.store(0, Ordering::Release);
    }

    fn unchecked(&self) -> (u64, u64) {
        (
            self.verified_upto.load(Ordering::Acquire),
            self.scrub_end.load(Ordering::Acquire).min(self.len()),
        )
    }

    /// Checks the whole batches in `bytes`, read at `position`, that lie in the unchecked range.
    /// Called by reads before they return the bytes.
    pub(crate) fn verify_read(&self, position: u64, bytes: &[u8]) -> Result<(), StorageError> {
        let (verified, end) = self.unchecked();
        let read_end = position + bytes.len() as u64;
        if read_end <= verified || position >= end {
            return Ok(());
        }
        let mut at = 0usize;
        while at < bytes.len() {
            let abs = position + at as u64;
            let size = match batch::validate(&bytes[at..]) {
                Ok(h) => h.size(),
                Err(e) if abs >= verified && abs < end => return Err(self.corrupt(abs, e)),
                // Outside the range to check: only the length is needed to step over it.
                Err(_) => match batch::BatchHeader::parse(&bytes[at..]) {
                    Ok(h) => h.size(),
                    Err(e) => return Err(self.corrupt(abs, e)),
                },
            };
            at += size;
        }
        if position <= verified {
            self.verified_upto
                .fetch_max(read_end.min(end), Ordering::AcqRel);
        }
        Ok(())
    }

    /// Checks the batches in `[position, end)` that lie in the unchecked range, reading one
    /// batch at a time (a fetch streamed from the file never holds its data in memory).
    pub(crate) fn verify_range(&self, position: u64, end: u64) -> Result<(), StorageError> {
        let (verified, unchecked_end) = self.unchecked();
        if end <= verified || position >= unchecked_end {
            return Ok(());
        }
        let mut at = position;
        let mut buf = Vec::new();
        while at < end {
            let Some(header) = self.header_at(at, end)? else {
                break;
            };
            // Bounded by the file: header_at only returns batches that end before `end`.
            buf.resize(header.size(), 0);
            self.read_at(&mut buf, at)?;
            self.verify_read(at, &buf)?;
            at += buf.len() as u64;
        }
        Ok(())
    }

    /// Checks up to about `budget` unchecked bytes (at least one batch) from the start of the
    /// unchecked range. A corrupt batch is logged and returned once; later calls skip it.
    pub(crate) fn scrub(&self, budget: u64) -> Result<ScrubStep, StorageError> {
        let mut step = ScrubStep::default();
        let mut buf = Vec::new();
        loop {
            let (position, end) = self.unchecked();
            if position >= end || self.corrupt_at.load(Ordering::Acquire) != u64::MAX {
                step.done = true;
                return Ok(step);
            }
            if step.bytes >= budget {
                return Ok(step);
            }
            let header = match self.header_at(position, end) {
                Ok(Some(h)) => h,
                // A torn end inside the range: nothing whole is left to check here.
                Ok(None) => {
                    step.done = true;
                    return Ok(step);
                }
                Err(StorageError::CorruptLog { reason, .. }) => {
                    return Err(self.report(position, reason));
                }
                Err(e) => return Err(e),
            };
            // Bounded by the file: header_at only returns batches that end before `end`.
            buf.resize(header.size(), 0);
            self.read_at(&mut buf, position)?;
            if let Err(e) = batch::validate(&buf) {
                return Err(self.report(position, e.to_string()));
            }
            self.verified_upto
                .fetch_max(position + buf.len() as u64, Ordering::AcqRel);
            step.bytes += buf.len() as u64;
        }
    }

    fn corrupt(&self, position: u64, why: impl ToString) -> StorageError {
        self.report(position, why.to_string())
    }

    /// Logs a corrupt batch (naming the file and position) and builds the error for it.
    fn report(&self, position: u64, reason: String) -> StorageError {
        let first = self.corrupt_at.fetch_min(position, Ordering::AcqRel) > position;
        if first {
            tracing::error!(
                file = %self.log_path().display(),
                position,
                reason = %reason,
                "corrupt record batch on disk: it will not be served"
            );
        }
        StorageError::CorruptBatch {
            path: self.log_path().to_path_buf(),
            position,
            reason,
        }
    }
}
