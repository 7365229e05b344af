//! `Log::read`: fetch by offset.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::Log;
use crate::error::StorageError;
use crate::segment::SegmentFiles;
use crate::ReadResult;

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
        let log_end_offset = self.log_end_offset();
        let log_start_offset = self.log_start_offset();
        let result = |records| ReadResult {
            records,
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
            return Ok(result(Bytes::new()));
        }
        let Some(mut segment) = self.segment_for(offset) else {
            return Ok(result(Bytes::new()));
        };
        let mut position = match segment.find_batch(offset)? {
            Some((position, _)) => position,
            None => segment.len(), // the batch is in a later segment
        };
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        loop {
            let limit = segment.len();
            let mut end = position;
            let mut stop = false;
            while let Some(h) = segment.header_at(end, limit)? {
                let first = total == 0;
                if h.last_offset() >= max_offset
                    || (total + h.size() > max_bytes && !(first && min_one_batch))
                {
                    stop = true;
                    break;
                }
                total += h.size();
                end += h.size() as u64;
            }
            if end > position {
                let bytes = segment.read_bytes(position, (end - position) as usize)?;
                segment.verify_read(position, &bytes)?;
                chunks.push(bytes);
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
        Ok(result(concat(chunks)))
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
