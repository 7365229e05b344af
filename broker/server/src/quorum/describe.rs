//! The quorum as DescribeQuorum reports it, built on the leader from openraft's
//! metrics and the network's [`Activity`].
//!
//! Offsets are Kafka's: a Raft entry at index `i` is the record at offset `i`, so a
//! log end offset is the last index plus one and the high watermark is the log end
//! offset a majority of voters has reached. Unknown values are -1, as in Kafka.

use super::activity::Activity;
use super::network::call_once;
use super::rpc::{Envelope, Request, Response};
use fjord_metadata::raft::{kafka_id, raft_id, NodeId};
use openraft::{BasicNode, RaftMetrics, ServerState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One voter or observer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    pub id: i32,
    /// Nil for a voter known by id only (a static `controller.quorum.voters` entry).
    pub directory_id: Uuid,
    pub log_end_offset: i64,
    pub last_fetch_ms: i64,
    pub last_caught_up_ms: i64,
}

/// A node's controller endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumNode {
    pub id: i32,
    pub listener: String,
    pub host: String,
    pub port: u16,
}

/// What the leader knows of the quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumState {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<Replica>,
    pub observers: Vec<Replica>,
    pub nodes: Vec<QuorumNode>,
}

/// The quorum as this node sees it, if it leads; `None` otherwise (only the leader
/// knows how far the others got).
pub fn describe(
    m: &RaftMetrics<NodeId, BasicNode>,
    activity: &Activity,
    now_ms: i64,
    listener: &str,
) -> Option<QuorumState> {
    if m.state != ServerState::Leader || m.current_leader != Some(m.id) {
        return None;
    }
    let none = Default::default();
    let replication = m.replication.as_ref().unwrap_or(&none);
    let own_end = m.last_log_index.map_or(0, |i| i as i64 + 1);
    let replica = |id: NodeId| {
        if id == m.id {
            return Replica {
                id: kafka_id(id),
                directory_id: Uuid::nil(),
                log_end_offset: own_end,
                last_fetch_ms: now_ms,
                last_caught_up_ms: now_ms,
            };
        }
        let end = match replication.get(&id) {
            Some(Some(l)) => l.index as i64 + 1,
            _ => -1,
        };
        let seen = activity.get(id, m.current_term);
        Replica {
            id: kafka_id(id),
            directory_id: Uuid::nil(),
            log_end_offset: end,
            last_fetch_ms: seen.map_or(-1, |s| s.last_fetch_ms),
            last_caught_up_ms: seen.map_or(-1, |s| s.last_caught_up_ms),
        }
    };
    let membership = m.membership_config.membership();
    let voters: Vec<Replica> = membership.voter_ids().map(replica).collect();
    let observers: Vec<Replica> = membership.learner_ids().map(replica).collect();
    let nodes = membership
        .nodes()
        .filter_map(|(id, n)| {
            let (host, port) = split_addr(&n.addr)?;
            Some(QuorumNode {
                id: kafka_id(*id),
                listener: listener.to_string(),
                host,
                port,
            })
        })
        .collect();
    Some(QuorumState {
        leader_id: kafka_id(m.id),
        leader_epoch: i32::try_from(m.current_term).unwrap_or(i32::MAX),
        high_watermark: majority_end(&voters),
        voters,
        observers,
        nodes,
    })
}

impl super::Quorum {
    /// The quorum as this node sees it if it leads.
    pub fn describe_local(&self) -> Option<QuorumState> {
        let m = self.raft().metrics().borrow().clone();
        let listener = controller_listener_name(&self.controller.cfg);
        describe(&m, &self.activity, crate::api::now_ms(), &listener)
    }

    /// The leader's view of the quorum, asked of the leader wherever it is; `None` if
    /// there is no leader or it did not answer in time.
    pub async fn describe(&self) -> Option<QuorumState> {
        let (leader, addr) = {
            let m = self.raft().metrics().borrow().clone();
            let leader = m.current_leader?;
            let addr = m
                .membership_config
                .membership()
                .get_node(&leader)?
                .addr
                .clone();
            (leader, addr)
        };
        if leader == raft_id(self.controller.node_id) {
            return self.describe_local();
        }
        let envelope = Envelope {
            cluster_id: self.cluster_id.get(),
            request: Request::DescribeQuorum,
        };
        match call_once(
            &addr,
            &self.controller.tls,
            &envelope,
            self.controller.request_timeout(),
        )
        .await
        {
            Ok(Response::Quorum(state)) => state,
            _ => None,
        }
    }
}

/// The controller listener's name (the first of `controller.listener.names`).
fn controller_listener_name(cfg: &crate::config::BrokerConfig) -> String {
    cfg.effective
        .get("controller.listener.names")
        .and_then(|v| v.split(',').map(str::trim).find(|n| !n.is_empty()))
        .unwrap_or("CONTROLLER")
        .to_string()
}

/// The log end offset a majority of voters reached (-1 if a majority is unknown).
pub fn majority_end(voters: &[Replica]) -> i64 {
    let mut ends: Vec<i64> = voters.iter().map(|v| v.log_end_offset).collect();
    ends.sort_unstable_by(|a, b| b.cmp(a));
    ends.get(ends.len() / 2).copied().unwrap_or(-1)
}

/// `host:port` or `[v6]:port`.
fn split_addr(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voter(end: i64) -> Replica {
        Replica {
            id: 0,
            directory_id: Uuid::nil(),
            log_end_offset: end,
            last_fetch_ms: -1,
            last_caught_up_ms: -1,
        }
    }

    #[test]
    fn the_high_watermark_is_what_a_majority_reached() {
        assert_eq!(majority_end(&[voter(10)]), 10);
        assert_eq!(majority_end(&[voter(10), voter(7), voter(3)]), 7);
        assert_eq!(majority_end(&[voter(10), voter(-1), voter(-1)]), -1);
        assert_eq!(majority_end(&[voter(9), voter(8), voter(5), voter(4)]), 5);
        assert_eq!(majority_end(&[]), -1);
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(
            split_addr("127.0.0.1:9093"),
            Some(("127.0.0.1".into(), 9093))
        );
        assert_eq!(split_addr("[::1]:9093"), Some(("::1".into(), 9093)));
        assert_eq!(split_addr("nohost"), None);
    }
}
