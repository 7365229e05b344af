//! Dynamic voters (KIP-853): add a controller to the quorum, or remove one, at run
//! time, through openraft's joint-consensus membership changes.
//!
//! Adding first makes the node a learner and waits until it caught up with the log
//! (openraft's blocking `add_learner`), then promotes it: a new voter never votes with
//! an empty log. The membership is a log entry, so it survives restarts and is what a
//! one-voter data directory grows from. Only the leader changes it; other nodes ask
//! the leader over the controller listener.

use super::controller::Refusal;
use super::network::call_once;
use super::rpc::{Envelope, Request, Response};
use super::Quorum;
use fjord_metadata::raft::{raft_id, NodeId};
use kafka_protocol::error::ResponseError;
use openraft::error::{ClientWriteError, RaftError};
use openraft::BasicNode;
use std::collections::BTreeSet;
use std::time::Duration;

/// A change of the voter set.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum VoterChange {
    /// Add node `id`, reachable at `addr` (its controller listener).
    Add {
        id: i32,
        addr: String,
    },
    Remove {
        id: i32,
    },
}

pub type VoterResult = Result<(), Refusal>;

impl Quorum {
    /// Applies `change` on the leader, wherever it is, within `timeout`.
    pub async fn change_voters(&self, change: VoterChange, timeout: Duration) -> VoterResult {
        let (leader, addr) = {
            let m = self.raft().metrics().borrow().clone();
            let Some(leader) = m.current_leader else {
                return Err(not_leader("the metadata quorum has no leader"));
            };
            let addr = m
                .membership_config
                .membership()
                .get_node(&leader)
                .map(|n| n.addr.clone());
            (leader, addr)
        };
        if leader == raft_id(self.controller.node_id) {
            return self.change_voters_here(change, timeout).await;
        }
        let Some(addr) = addr else {
            return Err(not_leader("the leader's address is unknown"));
        };
        let envelope = Envelope {
            cluster_id: self.cluster_id.get(),
            request: Request::ChangeVoters { change, timeout },
        };
        match call_once(
            &addr,
            &self.controller.tls,
            &envelope,
            timeout + Duration::from_secs(1),
        )
        .await
        {
            Ok(Response::Voters(r)) => r,
            _ => Err(Refusal::new(
                ResponseError::RequestTimedOut,
                "the metadata quorum's leader did not answer",
            )),
        }
    }

    /// Applies `change` if this node leads.
    pub async fn change_voters_here(&self, change: VoterChange, timeout: Duration) -> VoterResult {
        let voters: BTreeSet<NodeId> = {
            let m = self.raft().metrics().borrow().clone();
            if m.current_leader != Some(m.id) {
                return Err(not_leader("this node does not lead the metadata quorum"));
            }
            m.membership_config.membership().voter_ids().collect()
        };
        let raft = self.raft();
        let next = match &change {
            VoterChange::Add { id, addr } => {
                let node = raft_id(*id);
                if voters.contains(&node) {
                    return Err(Refusal::new(
                        ResponseError::DuplicateVoter,
                        format!("node {id} is already a voter"),
                    ));
                }
                tracing::info!(voter = id, %addr, "adding a voter: catching it up as a learner first");
                let caught_up = raft.add_learner(node, BasicNode::new(addr.clone()), true);
                match tokio::time::timeout(timeout, caught_up).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(refusal(e)),
                    Err(_) => {
                        return Err(Refusal::new(
                            ResponseError::RequestTimedOut,
                            format!("node {id} did not catch up with the metadata log within {timeout:?}; it stays a learner"),
                        ))
                    }
                }
                let mut next = voters.clone();
                next.insert(node);
                next
            }
            VoterChange::Remove { id } => {
                let node = raft_id(*id);
                if !voters.contains(&node) {
                    return Err(Refusal::new(
                        ResponseError::VoterNotFound,
                        format!("node {id} is not a voter"),
                    ));
                }
                if voters.len() == 1 {
                    return Err(Refusal::new(
                        ResponseError::InvalidRequest,
                        "cannot remove the only voter",
                    ));
                }
                let mut next = voters.clone();
                next.remove(&node);
                next
            }
        };
        match tokio::time::timeout(timeout, raft.change_membership(next, false)).await {
            Ok(Ok(_)) => {
                tracing::info!(?change, "metadata quorum voters changed");
                Ok(())
            }
            Ok(Err(e)) => Err(refusal(e)),
            Err(_) => Err(Refusal::new(
                ResponseError::RequestTimedOut,
                format!("the voter change was proposed but not confirmed within {timeout:?}; it may still apply"),
            )),
        }
    }
}

fn not_leader(message: &str) -> Refusal {
    Refusal::new(ResponseError::NotLeaderOrFollower, message)
}

fn refusal(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> Refusal {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => {
            not_leader("this node no longer leads the metadata quorum")
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => Refusal::new(
            ResponseError::RequestTimedOut,
            format!("another voter change is in progress: {c}"),
        ),
        RaftError::Fatal(f) => Refusal::new(
            ResponseError::UnknownServerError,
            format!("the metadata quorum stopped: {f}"),
        ),
    }
}
