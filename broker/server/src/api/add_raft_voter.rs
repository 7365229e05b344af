//! AddRaftVoter (key 80, KIP-853): make a running controller a voter of the metadata
//! quorum. The leader catches it up as a learner, then promotes it.

use super::str_bytes;
use crate::quorum::voters::VoterChange;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddRaftVoterRequest, AddRaftVoterResponse};
use std::time::Duration;

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 0;

pub async fn handle(
    ctx: &RequestContext,
    req: AddRaftVoterRequest,
) -> Option<AddRaftVoterResponse> {
    let refuse = |code: ResponseError, message: String| {
        Some(
            AddRaftVoterResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(message))),
        )
    };
    if !crate::security::authorizer::Authz::new(ctx).cluster(crate::security::acl::op::ALTER) {
        return refuse(
            ResponseError::ClusterAuthorizationFailed,
            "not authorized to alter the cluster".to_string(),
        );
    }
    if let Some(theirs) = req.cluster_id.as_ref().filter(|c| !c.is_empty()) {
        let ours = ctx.broker.cluster_id();
        if theirs.as_str() != ours {
            return refuse(
                ResponseError::InconsistentClusterId,
                format!("this is cluster {ours}, not {theirs}"),
            );
        }
    }
    if req.voter_id < 0 {
        return refuse(
            ResponseError::InvalidRequest,
            "voter id must not be negative".into(),
        );
    }
    let wanted = super::remove_raft_voter::controller_listener_name(ctx);
    let Some(listener) = req.listeners.iter().find(|l| l.name.as_str() == wanted) else {
        return refuse(
            ResponseError::InvalidRequest,
            format!("the voter's listeners do not include the controller listener {wanted}"),
        );
    };
    let addr = crate::config::cluster::host_port(listener.host.as_str(), listener.port);
    let timeout = Duration::from_millis(req.timeout_ms.clamp(1, 300_000) as u64);
    let change = VoterChange::Add {
        id: req.voter_id,
        addr,
    };
    match ctx.broker.quorum.change_voters(change, timeout).await {
        Ok(()) => Some(AddRaftVoterResponse::default().with_error_message(None)),
        Err(r) => Some(
            AddRaftVoterResponse::default()
                .with_error_code(r.code)
                .with_error_message(Some(str_bytes(r.message))),
        ),
    }
}
