//! Broker-only nodes: observers of the metadata quorum (Kafka's KRaft observers).
//!
//! An observer is an openraft learner that is never promoted, so it never votes and does
//! not count towards the quorum: a broker-only node that stops for good leaves the voters'
//! majority as it was. It has no controller listener, yet openraft's leader pushes entries
//! to its learners. So the observer dials out: it keeps one connection to every voter's
//! controller listener and opens it with [`Request::Observe`]; the voter parks that
//! connection in its [`ObserverLinks`], and whichever voter leads sends AppendEntries and
//! InstallSnapshot down it (the observer answers them as the controller listener would).
//! In the membership an observer's address is empty ([`OBSERVER_ADDR`]), which is how the
//! leader's network tells it from a voter it connects to itself.
//!
//! A new observer (no membership yet) asks the voters to add it as a learner
//! ([`VoterChange::AddObserver`]) until the leader has.

use super::network::{call_once, connect, round_trip, CallError, Duplex};
use super::rpc::{read_frame, write_frame, Envelope, Request, Response};
use super::voters::VoterChange;
use super::Quorum;
use crate::shutdown::Shutdown;
use fjord_metadata::raft::{raft_id, NodeId};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// An observer's address in the membership: none, it is reached over its own connections.
pub const OBSERVER_ADDR: &str = "";

/// How long an observer waits before dialling a voter again after a failure.
const REDIAL: Duration = Duration::from_millis(200);

/// On a voter: the link each observer opened to it, newest only. openraft talks to one
/// target through several clients at once (log replication and snapshot sending), so
/// they share the observer's one link: a request takes it for its round trip, under the
/// observer's lock, and puts it back when the answer came. A round trip that fails or is
/// cancelled drops the link (it may be half written), and the observer dials again.
/// Shared between the controller listener (which parks links) and the Raft network
/// (which uses them); safe to share between threads.
#[derive(Clone, Default)]
pub struct ObserverLinks(Arc<Mutex<HashMap<NodeId, Link>>>);

/// One observer's link, if it has one open to this node.
type Link = Arc<tokio::sync::Mutex<Option<Box<dyn Duplex>>>>;

impl ObserverLinks {
    fn slot(&self, node: NodeId) -> Link {
        self.0.lock().entry(node).or_default().clone()
    }

    /// Parks observer `node`'s new link, replacing an older one once no request uses it.
    pub async fn park(&self, node: NodeId, conn: Box<dyn Duplex>) {
        *self.slot(node).lock().await = Some(conn);
    }

    /// Sends `envelope` to observer `node` over its link and reads the answer.
    pub async fn exchange(&self, node: NodeId, envelope: &Envelope) -> Result<Response, CallError> {
        let slot = self.slot(node);
        let mut held = slot.lock().await;
        let Some(mut conn) = held.take() else {
            return Err(CallError::Unreachable(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                format!("observer {node} has no link to this node"),
            )));
        };
        let answer = round_trip(&mut conn, envelope).await?;
        *held = Some(conn);
        Ok(answer)
    }
}

/// Starts an observer's tasks: joining the membership, and one link per voter.
pub fn spawn(quorum: Arc<Quorum>, shutdown: Shutdown) {
    tokio::spawn(join(quorum.clone(), shutdown.clone()));
    tokio::spawn(links(quorum, shutdown));
}

/// The controllers to reach: the voters the membership names, else the configured ones.
fn voter_addrs(q: &Quorum) -> BTreeSet<String> {
    let m = q.raft().metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let known: BTreeSet<String> = membership
        .voter_ids()
        .filter_map(|id| membership.get_node(&id).map(|n| n.addr.clone()))
        .filter(|a| a != OBSERVER_ADDR)
        .collect();
    if !known.is_empty() {
        return known;
    }
    let cfg = &q.controller.cfg;
    cfg.voters
        .iter()
        .map(|v| v.addr())
        .chain(cfg.quorum_bootstrap_servers.iter().cloned())
        .collect()
}

/// Whether the membership names this node.
fn is_member(q: &Quorum) -> bool {
    let me = raft_id(q.controller.node_id);
    let m = q.raft().metrics().borrow().clone();
    m.membership_config.membership().get_node(&me).is_some()
}

/// Until the membership names this node, asks each voter in turn to add it; only the
/// leader does, the others refuse.
async fn join(q: Arc<Quorum>, mut shutdown: Shutdown) {
    let id = q.controller.node_id;
    let timeout = q.controller.request_timeout();
    let mut logged = false;
    while !is_member(&q) {
        for addr in voter_addrs(&q) {
            let envelope = Envelope {
                from: Some(id),
                cluster_id: q.cluster_id.get(),
                request: Request::ChangeVoters {
                    change: VoterChange::AddObserver { id },
                    timeout,
                },
            };
            let answer = call_once(&addr, &q.controller.tls, &envelope, timeout).await;
            if let Ok(Response::Voters(Ok(()))) = answer {
                tracing::info!(controller = %addr, "added to the metadata quorum as an observer");
                return;
            }
        }
        if !logged {
            tracing::info!("asking the metadata quorum's leader to add this broker as an observer");
            logged = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(REDIAL * 2) => {}
            _ = shutdown.recv() => return,
        }
    }
}

/// Keeps one link to every voter, following changes of the voter set.
async fn links(q: Arc<Quorum>, mut shutdown: Shutdown) {
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        let wanted = voter_addrs(&q);
        running.retain(|addr, task| {
            let keep = wanted.contains(addr) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for addr in wanted {
            if let std::collections::hash_map::Entry::Vacant(e) = running.entry(addr) {
                let task = tokio::spawn(link(q.clone(), e.key().clone(), shutdown.clone()));
                e.insert(task);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.recv() => {
                running.values().for_each(|t| t.abort());
                return;
            }
        }
    }
}

/// One voter's link: dial, announce, then answer what the voter sends; redial on failure.
async fn link(q: Arc<Quorum>, addr: String, mut shutdown: Shutdown) {
    loop {
        if let Err(e) = serve_link(&q, &addr).await {
            tracing::debug!(controller = %addr, error = %e, "observer link closed; redialling");
        }
        tokio::select! {
            _ = tokio::time::sleep(REDIAL) => {}
            _ = shutdown.recv() => return,
        }
    }
}

async fn serve_link(q: &Quorum, addr: &str) -> Result<(), String> {
    let mut conn = connect(addr, &q.controller.tls)
        .await
        .map_err(|e| match e {
            CallError::Unreachable(e) => e.to_string(),
            CallError::Network(m) => m,
        })?;
    let hello = Envelope {
        from: Some(q.controller.node_id),
        cluster_id: q.cluster_id.get(),
        request: Request::Observe {
            id: q.controller.node_id,
        },
    };
    write_frame(&mut conn, &hello)
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let envelope: Envelope = read_frame(&mut conn).await.map_err(|e| e.to_string())?;
        let response = super::server::handle(q, envelope).await;
        write_frame(&mut conn, &response)
            .await
            .map_err(|e| e.to_string())?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every request on `conn` as a node that does not lead would DescribeQuorum.
    async fn observer(mut conn: tokio::io::DuplexStream) {
        while read_frame::<Envelope>(&mut conn).await.is_ok() {
            if write_frame(&mut conn, &Response::Quorum(None))
                .await
                .is_err()
            {
                return;
            }
        }
    }

    fn describe() -> Envelope {
        Envelope {
            from: None,
            cluster_id: None,
            request: Request::DescribeQuorum,
        }
    }

    #[tokio::test]
    async fn clients_share_an_observers_link_and_a_cut_round_trip_drops_it() {
        let links = ObserverLinks::default();
        let describe = describe();
        let none = links.exchange(7, &describe).await;
        assert!(matches!(none, Err(CallError::Unreachable(_))));

        let (voter_end, observer_end) = tokio::io::duplex(1 << 16);
        tokio::spawn(observer(observer_end));
        links.park(7, Box::new(voter_end)).await;
        // Two clients at once (replication and snapshot sending) both get their answer.
        let (a, b) = tokio::join!(links.exchange(7, &describe), links.exchange(7, &describe));
        assert!(matches!(a, Ok(Response::Quorum(None))));
        assert!(matches!(b, Ok(Response::Quorum(None))));

        // A round trip cut off after sending (its answer never read) must not leave the
        // link for the next request to read that answer as its own.
        let (voter_end, _silent_observer) = tokio::io::duplex(1 << 16);
        links.park(7, Box::new(voter_end)).await;
        tokio::select! {
            biased;
            _ = links.exchange(7, &describe) => panic!("a silent observer answered"),
            _ = std::future::ready(()) => {}
        }
        let after = links.exchange(7, &describe).await;
        assert!(matches!(after, Err(CallError::Unreachable(_))));
    }
}
