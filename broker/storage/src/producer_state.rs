//! Idempotent producer state: per producer id, the epoch and the last five batches appended,
//! used to reject sequence gaps and to answer retries with their original offsets.
//!
//! In memory, rebuilt on open by scanning batch headers (never records), or loaded from the
//! snapshot a clean close writes (see [`snapshot`]). Thread-safety: plain data, owned by the
//! log's writer under its append mutex.

pub(crate) mod snapshot;

use std::collections::{HashMap, VecDeque};

use crate::batch::{increment_sequence, BatchHeader};
use crate::error::StorageError;

/// Kafka keeps this many batches per producer for duplicate detection.
const RETAINED_BATCHES: usize = 5;

/// What the log remembers about one appended batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) max_timestamp: i64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMetadata>,
}

/// The verdict on a batch from an idempotent producer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Not idempotent, or the next batch in sequence: append it.
    Append,
    /// A retry of a batch already in the log.
    Duplicate(BatchMetadata),
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Checks `header` against the state, with `staged` holding entries already updated by
    /// earlier batches of the same append (so several batches of one producer chain).
    pub(crate) fn check(
        &self,
        staged: &HashMap<i64, ProducerEntry>,
        header: &BatchHeader,
    ) -> Result<SequenceCheck, StorageError> {
        let pid = header.producer_id;
        if pid < 0 {
            return Ok(SequenceCheck::Append);
        }
        // Unknown producer (new, or its batches were deleted by retention): accept any
        // sequence, as Kafka does when it has no state.
        let Some(entry) = staged.get(&pid).or_else(|| self.producers.get(&pid)) else {
            return Ok(SequenceCheck::Append);
        };
        if header.producer_epoch < entry.epoch {
            return Err(StorageError::InvalidProducerEpoch {
                producer_id: pid,
                epoch: header.producer_epoch,
                current_epoch: entry.epoch,
            });
        }
        if header.producer_epoch > entry.epoch {
            if header.base_sequence != 0 {
                return Err(StorageError::OutOfOrderSequence {
                    producer_id: pid,
                    expected: 0,
                    received: header.base_sequence,
                });
            }
            return Ok(SequenceCheck::Append);
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == header.base_sequence && b.last_seq == header.last_sequence())
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        match entry.batches.back() {
            Some(last) if header.base_sequence != increment_sequence(last.last_seq, 1) => {
                Err(StorageError::OutOfOrderSequence {
                    producer_id: pid,
                    expected: increment_sequence(last.last_seq, 1),
                    received: header.base_sequence,
                })
            }
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Records an appended batch (with its assigned offsets) into `staged`.
    pub(crate) fn stage(&self, staged: &mut HashMap<i64, ProducerEntry>, header: &BatchHeader) {
        let pid = header.producer_id;
        if pid < 0 {
            return;
        }
        let entry = staged
            .entry(pid)
            .or_insert_with(|| self.producers.get(&pid).cloned().unwrap_or_default());
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == RETAINED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: header.last_sequence(),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
        });
    }

    /// Makes staged entries current.
    pub(crate) fn commit(&mut self, staged: HashMap<i64, ProducerEntry>) {
        self.producers.extend(staged);
    }

    /// Forgets producers whose last batch's timestamp is `expiration_ms` or more before
    /// `now_ms` (Kafka's `producer.id.expiration.ms` rule). A retry from such a producer is
    /// then accepted as the first batch of an unknown producer. Returns how many were dropped.
    pub(crate) fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.batches
                .back()
                .is_some_and(|b| now_ms.saturating_sub(b.max_timestamp) < expiration_ms)
        });
        before - self.producers.len()
    }

    /// The last offset of every producer's last batch: the cleaner keeps that batch (empty if
    /// all its records go) so the producer's sequence state survives, as Kafka does.
    pub(crate) fn last_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(pid, e)| e.batches.back().map(|b| (*pid, b.last_offset)))
            .collect()
    }

    /// Producers with state.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }

    /// Replays a batch read back from the log (open, truncation): no checks.
    pub(crate) fn replay(&mut self, header: &BatchHeader) {
        let mut staged = HashMap::new();
        self.stage(&mut staged, header);
        self.commit(staged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchHeader;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    fn append(s: &mut ProducerStates, h: BatchHeader) -> Result<SequenceCheck, StorageError> {
        let mut staged = HashMap::new();
        let verdict = s.check(&staged, &h)?;
        if verdict == SequenceCheck::Append {
            s.stage(&mut staged, &h);
            s.commit(staged);
        }
        Ok(verdict)
    }

    #[test]
    fn a_new_epoch_must_start_at_sequence_zero_and_old_epochs_are_fenced() {
        let mut s = ProducerStates::default();
        append(&mut s, header(7, 1, 0, 2, 0)).unwrap();
        assert!(matches!(
            append(&mut s, header(7, 2, 5, 1, 2)),
            Err(StorageError::OutOfOrderSequence { expected: 0, .. })
        ));
        append(&mut s, header(7, 2, 0, 1, 2)).unwrap();
        assert!(matches!(
            append(&mut s, header(7, 1, 2, 1, 3)),
            Err(StorageError::InvalidProducerEpoch {
                current_epoch: 2,
                ..
            })
        ));
    }

    #[test]
    fn only_the_last_five_batches_are_recognised_as_duplicates() {
        let mut s = ProducerStates::default();
        for i in 0..6 {
            append(&mut s, header(1, 0, i, 1, i64::from(i))).unwrap();
        }
        assert!(matches!(
            append(&mut s, header(1, 0, 1, 1, 99)),
            Ok(SequenceCheck::Duplicate(BatchMetadata {
                first_offset: 1,
                ..
            }))
        ));
        assert!(matches!(
            append(&mut s, header(1, 0, 0, 1, 99)),
            Err(StorageError::OutOfOrderSequence { expected: 6, .. })
        ));
    }

    #[test]
    fn producers_idle_past_the_expiration_are_forgotten() {
        let mut s = ProducerStates::default();
        let mut old = header(1, 0, 0, 1, 0);
        old.max_timestamp = 1_000;
        let mut recent = header(2, 0, 0, 1, 1);
        recent.max_timestamp = 90_000;
        append(&mut s, old).unwrap();
        append(&mut s, recent).unwrap();
        assert_eq!(s.expire(100_000, 50_000), 1);
        assert_eq!(s.len(), 1);
        // The forgotten producer's next batch is accepted whatever its sequence.
        assert_eq!(
            append(&mut s, header(1, 0, 7, 1, 2)).unwrap(),
            SequenceCheck::Append
        );
    }

    #[test]
    fn sequence_wraps_after_i32_max() {
        let mut s = ProducerStates::default();
        append(&mut s, header(1, 0, i32::MAX - 1, 2, 0)).unwrap();
        assert_eq!(
            append(&mut s, header(1, 0, 0, 1, 2)).unwrap(),
            SequenceCheck::Append
        );
    }
}
