//! The controller listener's protocol: length-prefixed JSON frames.
//!
//! A frame is a 4-byte big-endian length and that many bytes of JSON. A frame above
//! [`MAX_FRAME`] closes the connection: the length is checked before anything is
//! allocated. Every request names the sender's cluster id (once it knows it), so a node
//! never takes Raft traffic from another cluster.

use super::controller::{Command, CommandResult};
use super::describe::QuorumState;
use fjord_metadata::raft::{NodeId, TypeConfig};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest frame accepted: snapshot chunks are far smaller (openraft sends 3 MiB).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node's id, as Kafka's RPCs name their replica (logs, and a proxy or
    /// packet capture tells peers apart by it); absent from older senders.
    #[serde(default)]
    pub from: Option<i32>,
    /// The sender's cluster id, if it has one yet.
    pub cluster_id: Option<String>,
    pub request: Request,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    /// An admin command (or a broker heartbeat) for the active controller.
    Command(Command),
    /// A command forwarded by a broker; a retry carries the same `request_id`.
    Forwarded {
        request_id: uuid::Uuid,
        command: Command,
    },
    /// The leader's view of the quorum (DescribeQuorum).
    DescribeQuorum,
    /// Add or remove a voter (AddRaftVoter, RemoveRaftVoter), on the leader.
    ChangeVoters {
        change: super::voters::VoterChange,
        timeout: std::time::Duration,
    },
    /// Opens a broker-only node's link to a voter: from then on the voter sends Raft
    /// requests down this connection and the observer answers them.
    Observe {
        id: i32,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Command(CommandResult),
    /// `None`: this node does not lead.
    Quorum(Option<QuorumState>),
    Voters(super::voters::VoterResult),
    /// The request came from another cluster (or this node is not ready for it).
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is larger than the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("frame does not decode: {0}")]
    Decode(#[from] serde_json::Error),
}

pub async fn write_frame<T: Serialize>(
    w: &mut (impl AsyncWriteExt + Unpin),
    value: &T,
) -> Result<(), FrameError> {
    let body = serde_json::to_vec(value)?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

pub async fn read_frame<T: DeserializeOwned>(
    r: &mut (impl AsyncReadExt + Unpin),
) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    // The buffer grows with the bytes that arrive, not with the length a peer claims.
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    }
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_allocating() {
        let bytes = (u32::MAX).to_be_bytes();
        let mut r: &[u8] = &bytes;
        let got: Result<Response, _> = read_frame(&mut r).await;
        assert!(matches!(got, Err(FrameError::TooLarge(_))));
    }
}
