//! A follower's high watermark: what the leader says is committed, but never past what this
//! replica holds (Kafka's `ReplicaFetcherThread.processPartitionData`: `min(leader HW, LEO)`).

/// The high watermark a follower with log end offset `log_end_offset` keeps after a fetch
/// response carrying `leader_high_watermark`. It may be lower than before: a follower's high
/// watermark is only a hint for its own readers and is corrected by each response.
pub fn follower_high_watermark(leader_high_watermark: i64, log_end_offset: i64) -> i64 {
    leader_high_watermark.min(log_end_offset).max(0)
}

/// What a follower does with its leader's OffsetForLeaderEpoch answer (KIP-101, KIP-279).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// Truncate to this offset; the log then agrees with the leader's up to there.
    Done(i64),
    /// Truncate to this offset, then ask again with the (now older) latest epoch: the leader
    /// answered an epoch this follower never wrote, so where they diverge is not known yet.
    AskAgain(i64),
}

/// The divergence point, Kafka's `getOffsetTruncationState`. The follower asked for the end of
/// its latest epoch and the leader answered `(leader_epoch, leader_end)`: the largest epoch it
/// has at or below that one and where it ends. `follower_end_for(epoch)` is the follower's own
/// answer to the same question about its log (`None` if it knows no epoch at or below it);
/// `log_end` its log end offset and `high_watermark` the fallback when the leader cannot say
/// (`UNDEFINED_EPOCH_OFFSET`). Never truncates above the follower's log end.
pub fn truncation_point(
    leader_epoch: i32,
    leader_end: i64,
    follower_end_for: impl Fn(i32) -> Option<(i32, i64)>,
    log_end: i64,
    high_watermark: i64,
) -> Truncation {
    if leader_end < 0 {
        // The leader has no epoch at or below ours (it lost that history): what is
        // committed is all that is known to be shared.
        return Truncation::Done(high_watermark.min(log_end).max(0));
    }
    if leader_epoch < 0 {
        return Truncation::Done(leader_end.min(log_end));
    }
    match follower_end_for(leader_epoch) {
        Some((epoch, end)) if epoch != leader_epoch => Truncation::AskAgain(end.min(log_end)),
        Some((_, end)) => Truncation::Done(end.min(leader_end).min(log_end)),
        None => Truncation::Done(leader_end.min(log_end)),
    }
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

    /// A follower's epochs `(epoch, start)` and log end, answering like a leader-epoch cache.
    fn cache(entries: &'static [(i32, i64)], log_end: i64) -> impl Fn(i32) -> Option<(i32, i64)> {
        move |requested| {
            let i = entries.iter().rposition(|(e, _)| *e <= requested)?;
            let end = entries.get(i + 1).map_or(log_end, |(_, start)| *start);
            Some((entries[i].0, end))
        }
    }

    #[test]
    fn a_follower_keeps_what_it_shares_with_the_leader_and_drops_the_rest() {
        // KIP-101: the old leader wrote offsets 20..30 in epoch 0 that the new leader (epoch 1
        // from offset 20) never got: cut at 20, whatever the high watermark said.
        let old_leader = cache(&[(0, 0)], 30);
        assert_eq!(
            truncation_point(0, 20, &old_leader, 30, 30),
            Truncation::Done(20)
        );
        // The same epoch ends later on the leader: keep everything.
        assert_eq!(
            truncation_point(0, 40, &old_leader, 30, 5),
            Truncation::Done(30)
        );
        // KIP-279: the leader answers epoch 2, which this follower never wrote (it has 1 and
        // 3): cut to where its epoch 1 ends and ask again.
        let f = cache(&[(1, 0), (3, 10)], 15);
        assert_eq!(truncation_point(2, 12, &f, 15, 0), Truncation::AskAgain(10));
        let f = cache(&[(1, 0)], 10);
        assert_eq!(truncation_point(1, 8, &f, 10, 0), Truncation::Done(8));
    }

    #[test]
    fn without_an_answer_the_high_watermark_or_the_leaders_end_bounds_the_log() {
        let f = cache(&[(5, 10)], 30);
        assert_eq!(truncation_point(-1, -1, &f, 30, 12), Truncation::Done(12));
        assert_eq!(truncation_point(-1, 25, &f, 30, 12), Truncation::Done(25));
        let f = cache(&[(5, 10)], 30);
        assert_eq!(
            truncation_point(3, 8, &f, 30, 0),
            Truncation::Done(8),
            "unknown locally"
        );
        assert_eq!(truncation_point(-1, -1, &f, 30, 99), Truncation::Done(30));
    }
}
