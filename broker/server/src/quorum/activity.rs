//! What the leader heard from each peer, for DescribeQuorum's timestamps.
//!
//! openraft's metrics say how far each peer's log matches, not when it last answered,
//! so the network records it: every answered AppendEntries is a "fetch" (Kafka's
//! followers fetch; openraft's leader pushes), and an answer that acknowledged the
//! leader's whole log as it was when the request left makes the peer caught up at
//! that time — Kafka's `lastCaughtUpTimestamp`. As in Kafka, a new leader starts
//! from nothing: what was heard in an earlier term is not reported. Safe to share
//! between threads.

use fjord_metadata::raft::NodeId;
use std::collections::HashMap;
use std::sync::Arc;

/// Timestamps (ms since the Unix epoch) of one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub last_fetch_ms: i64,
    /// -1: never caught up while this node led.
    pub last_caught_up_ms: i64,
}

#[derive(Clone, Default)]
pub struct Activity(Arc<parking_lot::Mutex<HashMap<NodeId, (u64, Seen)>>>);

impl Activity {
    /// `node` answered a request of `term` sent at `sent_ms`; `acked` is the log index
    /// it now matches (if it accepted), `leader_last` the leader's last index at sending.
    pub fn answered(
        &self,
        node: NodeId,
        term: u64,
        sent_ms: i64,
        acked: Option<u64>,
        leader_last: u64,
    ) {
        let mut map = self.0.lock();
        let unseen = Seen {
            last_fetch_ms: -1,
            last_caught_up_ms: -1,
        };
        let (t, seen) = map.entry(node).or_insert((term, unseen));
        if *t != term {
            *t = term;
            *seen = unseen;
        }
        seen.last_fetch_ms = seen.last_fetch_ms.max(sent_ms);
        if acked.is_some_and(|a| a >= leader_last) {
            seen.last_caught_up_ms = seen.last_caught_up_ms.max(sent_ms);
        }
    }

    /// What `node` answered in `term`.
    pub fn get(&self, node: NodeId, term: u64) -> Option<Seen> {
        match self.0.lock().get(&node) {
            Some((t, seen)) if *t == term => Some(*seen),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_caught_up_only_when_it_acknowledged_the_whole_log() {
        let a = Activity::default();
        assert_eq!(a.get(1, 1), None);
        a.answered(1, 1, 100, Some(4), 5);
        assert_eq!(
            a.get(1, 1),
            Some(Seen {
                last_fetch_ms: 100,
                last_caught_up_ms: -1
            })
        );
        a.answered(1, 1, 200, Some(5), 5);
        a.answered(1, 1, 300, None, 6);
        assert_eq!(
            a.get(1, 1),
            Some(Seen {
                last_fetch_ms: 300,
                last_caught_up_ms: 200
            })
        );
        // A later term (another leadership) starts over.
        assert_eq!(a.get(1, 2), None);
        a.answered(1, 2, 400, None, 6);
        assert_eq!(
            a.get(1, 2),
            Some(Seen {
                last_fetch_ms: 400,
                last_caught_up_ms: -1
            })
        );
    }
}
