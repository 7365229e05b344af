//! `Log::append_as_follower`: a replica copies its leader's batches byte for byte.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::Log;
use crate::batch::{self, BatchHeader};
use crate::error::StorageError;
use crate::segment::active::PlacedBatch;

impl Log {
    /// Appends batches exactly as the leader stored them: base offsets, partition leader
    /// epochs, timestamps and CRCs are kept (Kafka's `appendAsFollower`). Every batch is
    /// CRC-checked; the first must start at this log's end and each next one right after the
    /// previous (anything else means the follower must truncate or refetch first, answered as
    /// OFFSET_OUT_OF_RANGE with nothing written). Producer state is updated from the batches,
    /// so this replica deduplicates an idempotent producer's retry once it leads, and so is the
    /// leader-epoch cache (from the batches' epochs). Answers the
    /// new log end offset and, when `flush.messages`/`flush.ms` are due, the offset to pass to
    /// [`Log::sync_to`].
    pub fn append_as_follower(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<(i64, Option<i64>), StorageError> {
        let config = self.config();
        self.check_writable()?;
        let mut w = self.writer.lock();
        let start = self.log_end_offset();
        let mut batches = Vec::new();
        let mut position = 0;
        let mut next = start;
        while position < records.len() {
            let invalid = |kind| StorageError::InvalidBatch { position, kind };
            let header: BatchHeader = batch::validate(&records[position..]).map_err(invalid)?;
            if header.base_offset != next {
                return Err(StorageError::OffsetOutOfRange {
                    offset: header.base_offset,
                    log_start_offset: self.log_start_offset(),
                    log_end_offset: start,
                });
            }
            next = header.last_offset() + 1;
            batches.push(PlacedBatch { position, header });
            position += header.size();
        }
        if batches.is_empty() {
            return Ok((start, None));
        }
        let mut staged = HashMap::new();
        for b in &batches {
            w.producers.stage(&mut staged, &b.header);
        }
        self.before_write(&mut w)?;
        let epochs = batches
            .iter()
            .map(|b| (b.header.partition_leader_epoch, b.header.base_offset));
        self.record_epochs(&mut w, epochs)?;
        if w.active
            .should_roll(records.len() as u64, next - 1, now_ms, &config)
        {
            self.roll(&mut w, &config)?;
        }
        if let Err(e) = w
            .active
            .append(records, &batches, now_ms, config.index_interval_bytes)
        {
            let good = w.active.files().len();
            if let Err(cut) = w.active.files().truncate_log(good) {
                self.fail(format!(
                    "{e}; cutting the partial write back to byte {good} failed too: {cut}"
                ));
            }
            if let Err(undo) = self.update_epochs(&mut w, |c| c.truncate_from_end(start)) {
                self.fail(format!(
                    "{e}; dropping its leader epochs failed too: {undo}"
                ));
            }
            return Err(e);
        }
        self.log_end.store(next, Ordering::Release);
        w.producers.commit(staged);
        w.unflushed_messages = w.unflushed_messages.saturating_add((next - start) as u64);
        let sync = self.flush_due(&w, &config, now_ms).then_some(next);
        Ok((next, sync))
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{headers, small_config, BatchBuilder};
    use crate::{Log, StorageError};

    #[test]
    fn a_follower_stores_the_leaders_batches_unchanged_and_refuses_gaps() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let leader = Log::open(a.path(), small_config()).unwrap();
        let follower = Log::open(b.path(), small_config()).unwrap();
        leader.append(&BatchBuilder::new(3).build(), 4, 0).unwrap();
        leader
            .append(&BatchBuilder::new(2).producer(7, 0, 0).build(), 5, 0)
            .unwrap();
        let read = |log: &Log| log.read(0, 1 << 20, i64::MAX, true).unwrap().records;
        let copied = read(&leader);
        let skip = headers(&copied).unwrap()[0].size();
        let gap = follower.append_as_follower(&copied[skip..], 0);
        assert!(matches!(gap, Err(StorageError::OffsetOutOfRange { .. })));
        assert_eq!(follower.log_end_offset(), 0, "nothing written");
        let (end, _) = follower.append_as_follower(&copied, 0).unwrap();
        assert_eq!(end, 5);
        assert_eq!(read(&follower), copied, "offsets and leader epochs kept");
        let epochs: Vec<i32> = headers(&read(&follower))
            .unwrap()
            .iter()
            .map(|h| h.partition_leader_epoch)
            .collect();
        assert_eq!(epochs, vec![4, 5]);
        let again = follower.append_as_follower(&copied, 0);
        assert!(
            matches!(again, Err(StorageError::OffsetOutOfRange { .. })),
            "an overlap is refused"
        );
    }
}
