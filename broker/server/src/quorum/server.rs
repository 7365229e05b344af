//! The controller listener: Raft RPCs between voters and commands for the active
//! controller, one request at a time per connection.

use super::rpc::{read_frame, write_frame, Envelope, Request, Response};
use super::Quorum;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// Serves the controller listener until shutdown.
pub async fn serve(listener: TcpListener, quorum: Arc<Quorum>, mut shutdown: Shutdown) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.recv() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let c = quorum.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, c).await {
                        tracing::debug!(%peer, error = %e, "controller connection closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "controller listener accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(mut stream: TcpStream, q: Arc<Quorum>) -> Result<(), super::rpc::FrameError> {
    loop {
        let envelope: Envelope = read_frame(&mut stream).await?;
        let response = handle(&q, envelope).await;
        write_frame(&mut stream, &response).await?;
    }
}

async fn handle(q: &Quorum, envelope: Envelope) -> Response {
    let c = &q.controller;
    if let (Some(theirs), Some(ours)) = (&envelope.cluster_id, c.cluster_id.get()) {
        if *theirs != ours {
            tracing::warn!(their_cluster = %theirs, our_cluster = %ours, "refused a metadata quorum request from another cluster");
            return Response::Refused(format!(
                "this node belongs to cluster {ours}, the request comes from cluster {theirs}"
            ));
        }
    }
    let raft = &c.raft;
    match envelope.request {
        Request::Append(r) => Response::Append(raft.append_entries(r).await),
        Request::Snapshot(r) => Response::Snapshot(raft.install_snapshot(r).await),
        Request::Vote(r) => Response::Vote(raft.vote(r).await),
        Request::Command(cmd) => Response::Command(c.execute(cmd).await),
        Request::Forwarded {
            request_id,
            command,
        } => Response::Command(q.dedup.execute(c, request_id, command).await),
        Request::ChangeVoters { change, timeout } => {
            // Bounded here too: the timeout came over the wire.
            let timeout = timeout.min(c.request_timeout() * 10);
            Response::Voters(q.change_voters_here(change, timeout).await)
        }
        Request::DescribeQuorum => Response::Quorum(q.describe_local()),
    }
}
