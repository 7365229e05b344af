//! RemoveRaftVoter (key 81, KIP-853): take a voter out of the metadata quorum.

use super::str_bytes;
use crate::quorum::voters::VoterChange;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{RemoveRaftVoterRequest, RemoveRaftVoterResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 0;

pub async fn handle(
    ctx: &RequestContext,
    req: RemoveRaftVoterRequest,
) -> Option<RemoveRaftVoterResponse> {
    if !crate::security::authorizer::Authz::new(ctx).cluster(crate::security::acl::op::ALTER) {
        return Some(
            RemoveRaftVoterResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
        );
    }
    if let Some(theirs) = req.cluster_id.as_ref().filter(|c| !c.is_empty()) {
        let ours = ctx.broker.cluster_id();
        if theirs.as_str() != ours {
            return Some(
                RemoveRaftVoterResponse::default()
                    .with_error_code(ResponseError::InconsistentClusterId.code())
                    .with_error_message(Some(str_bytes(format!(
                        "this is cluster {ours}, not {theirs}"
                    )))),
            );
        }
    }
    let timeout = ctx.broker.quorum.controller.request_timeout();
    let change = VoterChange::Remove { id: req.voter_id };
    match ctx.broker.quorum.change_voters(change, timeout).await {
        Ok(()) => Some(RemoveRaftVoterResponse::default().with_error_message(None)),
        Err(r) => Some(
            RemoveRaftVoterResponse::default()
                .with_error_code(r.code)
                .with_error_message(Some(str_bytes(r.message))),
        ),
    }
}

/// The controller listener's name (the first of `controller.listener.names`).
pub fn controller_listener_name(ctx: &RequestContext) -> String {
    ctx.broker
        .config
        .effective
        .get("controller.listener.names")
        .and_then(|v| v.split(',').map(str::trim).find(|n| !n.is_empty()))
        .unwrap_or("CONTROLLER")
        .to_string()
}
