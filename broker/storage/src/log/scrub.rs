//! `Log::scrub`: background CRC checks of data this process did not write (see
//! [`crate::segment::scrub`]).

use super::Log;
use crate::error::StorageError;

/// What a [`Log::scrub`] call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScrubProgress {
    /// Bytes CRC-checked by this call.
    pub bytes_checked: u64,
    /// Every segment is checked (or stops at a corrupt batch already reported).
    pub done: bool,
}

impl Log {
    /// CRC-checks up to about `budget` bytes of batches that were on disk when the log was
    /// opened and have not been checked since, oldest segment first. Meant to be called
    /// repeatedly from a background thread at a bounded rate until `done`; appends and reads
    /// continue meanwhile (no log lock is held while reading). A corrupt batch is returned as
    /// [`StorageError::CorruptBatch`] (and logged with its file and position) once; reads of it
    /// fail the same way, and later scrubs go past its segment.
    pub fn scrub(&self, budget: u64) -> Result<ScrubProgress, StorageError> {
        let segments: Vec<_> = self.segments.read().values().cloned().collect();
        let mut progress = ScrubProgress::default();
        for segment in segments {
            if progress.bytes_checked >= budget {
                return Ok(progress);
            }
            let step = segment.scrub(budget - progress.bytes_checked)?;
            progress.bytes_checked += step.bytes;
            if !step.done {
                return Ok(progress);
            }
        }
        progress.done = true;
        Ok(progress)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::{Seek, SeekFrom, Write};

    use crate::testutil::{headers, small_config, BatchBuilder};
    use crate::{Log, StorageError};

    /// A closed log of several segments whose first segment has `garbage` written into the
    /// middle of its second batch; returns the byte position of that batch.
    fn log_with_a_rotten_sealed_segment(dir: &std::path::Path) -> u64 {
        let log = Log::open(dir, small_config()).unwrap();
        for _ in 0..12 {
            log.append(&BatchBuilder::new(4).value_len(60).build(), 0, 0)
                .unwrap();
        }
        assert!(log.segment_count() >= 3);
        log.close().unwrap();
        let first = dir.join(format!("{:020}.log", 0));
        let data = fs::read(&first).unwrap();
        let second = crate::batch::validate(&data).unwrap().size() as u64;
        let mut f = fs::OpenOptions::new().write(true).open(&first).unwrap();
        f.seek(SeekFrom::Start(second + 80)).unwrap();
        f.write_all(b"\xde\xad\xbe\xef garbage").unwrap();
        second
    }

    #[test]
    fn a_corrupt_batch_in_a_sealed_segment_is_refused_on_first_read_after_a_clean_restart() {
        let dir = tempfile::tempdir().unwrap();
        let position = log_with_a_rotten_sealed_segment(dir.path());
        let log = Log::open(dir.path(), small_config()).unwrap();
        // The first batch is intact and served alone.
        let first = log.read(0, 1, i64::MAX, true).unwrap();
        assert_eq!(headers(&first.records).unwrap().len(), 1);
        // A read covering the rotten batch fails, naming the file and position.
        match log.read(0, usize::MAX, i64::MAX, true) {
            Err(StorageError::CorruptBatch {
                path, position: p, ..
            }) => {
                assert!(path.ends_with("00000000000000000000.log"));
                assert_eq!(p, position);
            }
            other => panic!("corrupt batch served: {other:?}"),
        }
        assert!(matches!(
            log.read(4, usize::MAX, i64::MAX, true),
            Err(StorageError::CorruptBatch { .. })
        ));
        assert_eq!(
            StorageError::CorruptBatch {
                path: "x".into(),
                position: 0,
                reason: String::new()
            }
            .kafka_error_code(),
            2,
            "CORRUPT_MESSAGE"
        );
        // Batches after it are still served.
        let later = log.read(8, usize::MAX, i64::MAX, true).unwrap();
        assert!(!headers(&later.records).unwrap().is_empty());
    }

    #[test]
    fn the_background_scrub_finds_a_corrupt_batch_once_and_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let position = log_with_a_rotten_sealed_segment(dir.path());
        let log = Log::open(dir.path(), small_config()).unwrap();
        let mut found = Vec::new();
        let mut done = false;
        for _ in 0..1000 {
            match log.scrub(100) {
                Ok(p) if p.done => {
                    done = true;
                    break;
                }
                Ok(p) => assert!(p.bytes_checked > 0),
                Err(StorageError::CorruptBatch { position, .. }) => found.push(position),
                Err(e) => panic!("{e}"),
            }
        }
        assert!(done);
        assert_eq!(found, vec![position]);
    }

    #[test]
    fn an_intact_log_scrubs_clean_and_new_appends_need_no_scrub() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_config()).unwrap();
        for _ in 0..6 {
            log.append(&BatchBuilder::new(4).build(), 0, 0).unwrap();
        }
        assert_eq!(log.scrub(u64::MAX).unwrap().bytes_checked, 0);
        log.close().unwrap();
        let log = Log::open(dir.path(), small_config()).unwrap();
        let p = log.scrub(u64::MAX).unwrap();
        assert!(p.done);
        assert_eq!(p.bytes_checked, log.size_bytes());
    }
}
