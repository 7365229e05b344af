//! `Log::read`: fetch by offset.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::Log;
use crate::error::StorageError;
use crate::segment::SegmentFiles;
use crate::ReadResult;

/// Whole batches `[position, end)` of one segment's `.log`.
pub(super) struct BatchRange {
    pub(super) segment: Arc<SegmentFiles>,
    pub(super) position: u64,
    pub(super) end: u64,
}

/// What [`Log::batch_ranges`] found.
pub(super) struct BatchRanges {
    /// In offset order, possibly spanning segments.
    pub(super) ranges: Vec<BatchRange>,
    /// Total bytes of `ranges`.
    pub(super) bytes: usize,
    /// The offset after the last batch, if any batch was found.
    pub(super) next_offset: Option<i64>,
    pub(super) log_start_offset: i64,
    pub(super) log_end_offset: i64,
}

impl Log {
    /// Reads whole batches starting with the one that contains `offset` (Kafka's fetch
    /// semantics). Stops before a batch that would push the result past `max_bytes` (unless it
    /// is the first and `min_one_batch`, KIP-74) or that holds any offset `>= max_offset`
    /// (the high watermark). Continues into later segments. `offset == log end` reads nothing;
    /// outside `[log start, log end]` is [`StorageError::OffsetOutOfRange`].
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<ReadResult, StorageError> {
        let found = self.batch_ranges(offset, max_bytes, max_offset, min_one_batch)?;
        let mut chunks: Vec<Bytes> = Vec::with_capacity(found.ranges.len());
        for r in &found.ranges {
            let bytes = r
                .segment
                .read_bytes(r.position, (r.end - r.position) as usize)?;
            r.segment.verify_read(r.position, &bytes)?;
            chunks.push(bytes);
        }
        Ok(ReadResult {
            records: concat(chunks),
            log_start_offset: found.log_start_offset,
            log_end_offset: found.log_end_offset,
        })
    }

    /// Where the batches [`Log::read`] returns lie, without reading them: header walks only.
    pub(super) fn batch_ranges(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<BatchRanges, StorageError> {
        let log_end_offset = self.log_end_offset();
        let log_start_offset = self.log_start_offset();
        let mut out = BatchRanges {
            ranges: Vec::new(),
            bytes: 0,
            next_offset: None,
            log_start_offset,
            log_end_offset,
        };
        if offset < log_start_offset || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        if offset == log_end_offset || offset >= max_offset {
            return Ok(out);
        }
        let Some(mut segment) = self.segment_for(offset) else {
            return Ok(out);
        };
        let mut position = match segment.find_batch(offset)? {
            Some((position, _)) => position,
            None => segment.len(), // the batch is in a later segment
        };
        loop {
            let limit = segment.len();
            let mut end = position;
            let mut stop = false;
            while let Some(h) = segment.header_at(end, limit)? {
                let first = out.bytes == 0;
                if h.last_offset() >= max_offset
                    || (out.bytes + h.size() > max_bytes && !(first && min_one_batch))
                {
                    stop = true;
                    break;
                }
                out.bytes += h.size();
                out.next_offset = Some(h.last_offset() + 1);
                end += h.size() as u64;
            }
            if end > position {
                out.ranges.push(BatchRange {
                    segment: segment.clone(),
                    position,
                    end,
                });
            }
            if stop {
                break;
            }
            match self.segment_after(segment.base_offset()) {
                Some(next) => {
                    segment = next;
                    position = 0;
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// The segment whose range holds `offset` (the last with base `<= offset`), or the first.
    pub(crate) fn segment_for(&self, offset: i64) -> Option<Arc<SegmentFiles>> {
        let map = self.segments.read();
        map.range(..=offset)
            .next_back()
            .or_else(|| map.iter().next())
            .map(|(_, s)| s.clone())
    }

    pub(crate) fn segment_after(&self, base_offset: i64) -> Option<Arc<SegmentFiles>> {
        self.segments
            .read()
            .range(base_offset + 1..)
            .next()
            .map(|(_, s)| s.clone())
    }
}

fn concat(chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.into_iter().next().unwrap_or_default(),
        _ => {
            let mut out = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            for c in chunks {
                out.extend_from_slice(&c);
            }
            out.freeze()
        }
    }
}
