//! A follower's high watermark: what the leader says is committed, but never past what this
//! replica holds (Kafka's `ReplicaFetcherThread.processPartitionData`: `min(leader HW, LEO)`).

/// The high watermark a follower with log end offset `log_end_offset` keeps after a fetch
/// response carrying `leader_high_watermark`. It may be lower than before: a follower's high
/// watermark is only a hint for its own readers and is corrected by each response.
pub fn follower_high_watermark(leader_high_watermark: i64, log_end_offset: i64) -> i64 {
    leader_high_watermark.min(log_end_offset).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_never_claims_records_it_does_not_have() {
        assert_eq!(follower_high_watermark(10, 7), 7);
        assert_eq!(follower_high_watermark(5, 7), 5);
        assert_eq!(follower_high_watermark(-1, 7), 0);
    }
}
