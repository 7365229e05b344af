//! Looking inside one stored batch: per-record offsets and timestamps, for the exact timestamp
//! lookups of ListOffsets. Off the hot path; decodes
//! with the bounded, streaming reader of `validate::reader`, one record at a time.

use crate::batch::BatchHeader;
use crate::error::StorageError;
use crate::validate::{decompressed_limit, RecordReader};

/// The first (offset, timestamp) of `batch`'s records, in order, accepted by `accept`. For
/// `LogAppendTime` batches every record carries the batch's `maxTimestamp`, as consumers see
/// it. Decompression stops at [`decompressed_limit`] of `max_message_bytes`; memory holds one
/// record at a time.
pub(crate) fn find_record(
    header: &BatchHeader,
    batch: &[u8],
    max_message_bytes: u64,
    mut accept: impl FnMut(i64, i64) -> bool,
) -> Result<Option<(i64, i64)>, StorageError> {
    let decode = |e: crate::error::BatchError| StorageError::Decode {
        offset: header.base_offset,
        reason: e.to_string(),
    };
    let mut reader =
        RecordReader::new(header, batch, decompressed_limit(max_message_bytes)).map_err(decode)?;
    while let Some(r) = reader.next_record().map_err(decode)? {
        let offset = header.base_offset + i64::from(r.offset_delta);
        let ts = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.saturating_add(r.timestamp_delta)
        };
        if accept(offset, ts) {
            return Ok(Some((offset, ts)));
        }
    }
    Ok(None)
}
