//! Lookups by timestamp (ListOffsets).

use super::Log;
use crate::error::StorageError;
use crate::records::find_record;
use crate::segment::SegmentFiles;
use crate::TimestampOffset;

impl Log {
    /// ListOffsets lookup. For `ts >= 0`: the first record (offset order) at or after the log
    /// start whose timestamp is `>= ts`, exact per record: the time index narrows the start,
    /// batch headers skip batches whose `maxTimestamp` is below `ts`, and the matching batch is
    /// decoded (decompressed if needed); `None` if no record qualifies.
    /// Kafka's special values: -2 (earliest) and -4 (earliest local) give the log start offset,
    /// -1 (latest) the log end offset, both with timestamp -1, and -3 the record with the
    /// largest timestamp. For consumers "latest" means the high watermark, which only the broker
    /// knows: it should answer -1 itself.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<TimestampOffset>, StorageError> {
        let at = |offset| TimestampOffset {
            timestamp: -1,
            offset,
        };
        match ts {
            -2 | -4 => return Ok(Some(at(self.log_start_offset()))),
            -1 => return Ok(Some(at(self.log_end_offset()))),
            -3 => return Ok(self.max_timestamp_offset()),
            _ => {}
        }
        let log_start = self.log_start_offset();
        let max_message_bytes = self.config().max_message_bytes;
        let segments: Vec<_> = self.segments.read().values().cloned().collect();
        for segment in segments {
            if segment.next_offset() <= log_start || segment.max_timestamp().timestamp < ts {
                continue;
            }
            let from = segment
                .indexes()
                .time
                .lookup_before(ts)
                .map_or(log_start, |(_, offset)| (offset + 1).max(log_start));
            if let Some(found) = search_segment(&segment, from, ts, max_message_bytes)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the first such, in offset order) and that
    /// timestamp; `None` for an empty log. If the batch cannot be decoded, the batch's last
    /// offset is returned (Kafka's answer before KIP-734).
    pub fn max_timestamp_offset(&self) -> Option<TimestampOffset> {
        let segments: Vec<_> = self.segments.read().values().cloned().collect();
        let mut best: Option<(TimestampOffset, &SegmentFiles)> = None;
        for s in &segments {
            let m = s.max_timestamp();
            if m.offset >= 0 && best.is_none_or(|(b, _)| m.timestamp > b.timestamp) {
                best = Some((m, s));
            }
        }
        let (shallow, segment) = best?;
        let max_message_bytes = self.config().max_message_bytes;
        let exact = || -> Result<Option<TimestampOffset>, StorageError> {
            let Some((position, header)) = segment.find_batch(shallow.offset)? else {
                return Ok(None);
            };
            let batch = segment.read_bytes(position, header.size())?;
            Ok(find_record(&header, &batch, max_message_bytes, |_, t| {
                t == shallow.timestamp
            })?
            .map(|(offset, timestamp)| TimestampOffset { timestamp, offset }))
        };
        Some(exact().ok().flatten().unwrap_or(shallow))
    }
}

/// The first record at offset `>= from` with timestamp `>= ts` in `segment`.
fn search_segment(
    segment: &SegmentFiles,
    from: i64,
    ts: i64,
    max_message_bytes: u64,
) -> Result<Option<TimestampOffset>, StorageError> {
    let Some((mut position, _)) = segment.find_batch(from)? else {
        return Ok(None);
    };
    let limit = segment.len();
    while let Some((at, header)) =
        segment.find_batch_from(position, limit, |h| h.max_timestamp >= ts)?
    {
        let batch = segment.read_bytes(at, header.size())?;
        match find_record(&header, &batch, max_message_bytes, |o, t| {
            o >= from && t >= ts
        }) {
            Ok(Some((offset, timestamp))) => {
                return Ok(Some(TimestampOffset { timestamp, offset }))
            }
            Ok(None) => {}
            // A batch written before validation existed (or damaged since): skip it rather
            // than fail every lookup past it.
            Err(e) => tracing::warn!(
                file = %segment.log_path().display(),
                offset = header.base_offset,
                error = %e,
                "skipping an undecodable batch in a timestamp lookup"
            ),
        }
        position = at + header.size() as u64;
    }
    Ok(None)
}
