//! The controller listener: Raft RPCs between voters and commands for the active
//! controller, one request at a time per connection. On SSL, a peer must present a
//! certificate the trust store vouches for, and with an authorizer its principal (mapped by
//! `ssl.principal.mapping.rules`) must be a super user or hold CLUSTER_ACTION on the
//! cluster, as Kafka's controller APIs require.

use super::network::Duplex;
use super::rpc::{read_frame, write_frame, Envelope, Request, Response};
use super::Quorum;
use crate::security::acl::{authorize, op, resource, Policy};
use crate::shutdown::Shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
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
                    let Some(mut stream) = admit(&c, stream, peer).await else {
                        return;
                    };
                    if let Err(e) = connection(&mut stream, c).await {
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

/// The connection as it is served: TCP on PLAINTEXT; on SSL, after a mutual TLS handshake
/// and the peer's authorization. `None` (logged) when the peer is refused.
async fn admit(q: &Quorum, stream: TcpStream, peer: SocketAddr) -> Option<Box<dyn Duplex>> {
    let Some(tls) = &q.controller.tls else {
        return Some(Box::new(stream));
    };
    let refused = |why: String| {
        tracing::warn!(%peer, reason = %why, "refused a connection to the controller listener");
    };
    let stream = match tls.accept(stream, Duration::from_secs(10)).await {
        Ok(s) => s,
        Err(e) => {
            refused(e.to_string());
            return None;
        }
    };
    let principal = match tls.principal(&stream) {
        Ok(p) => p,
        Err(e) => {
            refused(e.to_string());
            return None;
        }
    };
    let sec = &q.controller.cfg.security;
    if sec.authorizer {
        let policy = Policy {
            super_users: &sec.super_users,
            allow_everyone_if_no_acl: sec.allow_everyone_if_no_acl,
        };
        let image = q.controller.image();
        let host = peer.ip().to_string();
        let (op, cluster) = (op::CLUSTER_ACTION, resource::CLUSTER);
        let name = resource::CLUSTER_NAME;
        if !authorize(&image.acls, &policy, &principal, &host, op, cluster, name) {
            refused(format!(
                "{principal} is not a super user and may not CLUSTER_ACTION the cluster"
            ));
            return None;
        }
    }
    Some(Box::new(stream))
}

async fn connection(
    stream: &mut Box<dyn Duplex>,
    q: Arc<Quorum>,
) -> Result<(), super::rpc::FrameError> {
    loop {
        let envelope: Envelope = read_frame(stream).await?;
        let response = handle(&q, envelope).await;
        write_frame(stream, &response).await?;
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
