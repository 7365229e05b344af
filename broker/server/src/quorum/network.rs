//! openraft's network over the controller listener: one TCP connection per peer,
//! one request in flight on it, reconnected after any error. On an SSL controller listener
//! every connection is mutual TLS: the peer's certificate must chain to this node's trust
//! store and name the voter's host, and this node presents its own.

use super::activity::Activity;
use super::rpc::{read_frame, write_frame, Envelope, Request, Response};
use crate::security::tls::TlsContext;
use fjord_metadata::log_store::LogStore;
use fjord_metadata::raft::{NodeId, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A connection to a peer's controller listener: TCP or TLS over it.
pub trait Duplex: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Duplex for T {}

/// The controller listener's TLS, when it uses SSL (shared by every caller).
pub type PeerTls = Option<Arc<TlsContext>>;

/// Opens a connection to the controller listener at `addr` (TLS when `tls` is set).
pub async fn connect(addr: &str, tls: &PeerTls) -> Result<Box<dyn Duplex>, CallError> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(CallError::Unreachable)?;
    let _ = s.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Box::new(s));
    };
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    match tls.connect(s, host, Duration::from_secs(10)).await {
        Ok(t) => Ok(Box::new(t)),
        Err(e) => Err(CallError::Network(format!(
            "TLS with the controller listener at {addr} failed: {e}"
        ))),
    }
}

/// Shared by every connection: the cluster id to stamp on requests.
#[derive(Clone, Default)]
pub struct ClusterId(pub Arc<parking_lot::RwLock<Option<String>>>);

impl ClusterId {
    pub fn get(&self) -> Option<String> {
        self.0.read().clone()
    }
    pub fn set(&self, id: String) {
        *self.0.write() = Some(id);
    }
}

pub struct Network {
    pub cluster_id: ClusterId,
    /// When each peer last answered (for DescribeQuorum).
    pub activity: Activity,
    /// This node's log: its last index at sending tells whether a peer caught up.
    pub log: LogStore,
    pub tls: PeerTls,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            target,
            addr: node.addr.clone(),
            conn: None,
            cluster_id: self.cluster_id.clone(),
            activity: self.activity.clone(),
            log: self.log.clone(),
            tls: self.tls.clone(),
        }
    }
}

pub struct Peer {
    target: NodeId,
    addr: String,
    conn: Option<Box<dyn Duplex>>,
    cluster_id: ClusterId,
    activity: Activity,
    log: LogStore,
    tls: PeerTls,
}

/// Why a call to a peer failed, before it is shaped into openraft's error types.
pub enum CallError {
    Unreachable(std::io::Error),
    Network(String),
}

/// Sends one request on a fresh connection to `addr` and waits for the response.
pub async fn call_once(
    addr: &str,
    tls: &PeerTls,
    envelope: &Envelope,
    timeout: Duration,
) -> Result<Response, CallError> {
    let fut = async {
        let mut s = connect(addr, tls).await?;
        write_frame(&mut s, envelope)
            .await
            .map_err(|e| CallError::Network(e.to_string()))?;
        read_frame::<Response>(&mut s)
            .await
            .map_err(|e| CallError::Network(e.to_string()))
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(CallError::Network(format!(
            "no answer from {addr} within {timeout:?}"
        ))),
    }
}

impl Peer {
    async fn call<E: std::error::Error>(
        &mut self,
        request: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<NodeId, BasicNode, E>> {
        let envelope = Envelope {
            cluster_id: self.cluster_id.get(),
            request,
        };
        let result = tokio::time::timeout(option.hard_ttl(), self.exchange(&envelope)).await;
        match result {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(CallError::Unreachable(e))) => {
                self.conn = None;
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Ok(Err(CallError::Network(m))) => {
                self.conn = None;
                Err(RPCError::Network(NetworkError::new(&AnyError::error(m))))
            }
            Err(_) => {
                self.conn = None;
                Err(RPCError::Network(NetworkError::new(&AnyError::error(
                    format!(
                        "no answer from node {} within {:?}",
                        self.target,
                        option.hard_ttl()
                    ),
                ))))
            }
        }
    }

    async fn exchange(&mut self, envelope: &Envelope) -> Result<Response, CallError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.addr, &self.tls).await?);
        }
        let Some(s) = self.conn.as_mut() else {
            return Err(CallError::Network("no connection".into()));
        };
        write_frame(s, envelope)
            .await
            .map_err(|e| CallError::Network(e.to_string()))?;
        read_frame::<Response>(s)
            .await
            .map_err(|e| CallError::Network(e.to_string()))
    }

    fn unexpected<E: std::error::Error>(&self, r: Response) -> RPCError<NodeId, BasicNode, E> {
        let m = match r {
            Response::Refused(m) => m,
            other => format!("unexpected response {other:?}"),
        };
        RPCError::Network(NetworkError::new(&AnyError::error(format!(
            "node {}: {m}",
            self.target
        ))))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let sent_ms = crate::api::now_ms();
        let leader_last = self.log.last_index();
        let term = rpc.vote.leader_id().term;
        let upto = rpc
            .entries
            .last()
            .map(|e| e.log_id.index)
            .or(rpc.prev_log_id.map(|l| l.index))
            .unwrap_or(0);
        match self.call(Request::Append(rpc), &option).await? {
            Response::Append(r) => {
                let acked = match &r {
                    Ok(AppendEntriesResponse::Success) => Some(upto),
                    Ok(AppendEntriesResponse::PartialSuccess(l)) => l.map(|l| l.index),
                    _ => None,
                };
                self.activity
                    .answered(self.target, term, sent_ms, acked, leader_last);
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.call(Request::Snapshot(rpc), &option).await? {
            Response::Snapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(Request::Vote(rpc), &option).await? {
            Response::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(other)),
        }
    }
}
