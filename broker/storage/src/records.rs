//! Looking inside one stored batch: per-record offsets and timestamps, for the exact timestamp
//! lookups of ListOffsets. Off the hot path; decompresses with kafka-protocol's decoder.

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::batch::BatchHeader;
use crate::error::StorageError;

/// (offset, timestamp) of every record of `batch`, in order. For `LogAppendTime` batches every
/// record carries the batch's `maxTimestamp`, as consumers see it.
pub(crate) fn record_timestamps(
    header: &BatchHeader,
    batch: Bytes,
) -> Result<Vec<(i64, i64)>, StorageError> {
    let mut buf = batch;
    let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| StorageError::Decode {
        offset: header.base_offset,
        reason: e.to_string(),
    })?;
    Ok(set
        .records
        .iter()
        .map(|r| {
            let ts = if header.is_log_append_time() {
                header.max_timestamp
            } else {
                r.timestamp
            };
            (r.offset, ts)
        })
        .collect())
}
