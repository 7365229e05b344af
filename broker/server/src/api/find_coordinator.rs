//! FindCoordinator (key 10): the leader of a group's `__consumer_offsets` partition
//! coordinates it (single and batched keys); COORDINATOR_NOT_AVAILABLE while it has none.
//!
//! Transactions are not offered, so a transaction coordinator (key type 1) is refused
//! with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, the same answer InitProducerId gives a
//! transactional producer; a retriable error would make clients retry forever.

use super::str_bytes;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 4;

pub async fn handle(
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> Option<FindCoordinatorResponse> {
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| find(ctx, k.as_str(), req.key_type))
            .collect();
        return Some(FindCoordinatorResponse::default().with_coordinators(coordinators));
    }
    let c = find(ctx, req.key.as_str(), req.key_type);
    Some(
        FindCoordinatorResponse::default()
            .with_error_code(c.error_code)
            .with_error_message(c.error_message)
            .with_node_id(c.node_id)
            .with_host(c.host)
            .with_port(c.port),
    )
}

fn find(ctx: &RequestContext, key: &str, key_type: i8) -> Coordinator {
    let refuse = |code: ResponseError, message: &str| {
        Coordinator::default()
            .with_key(str_bytes(key))
            .with_node_id(BrokerId(-1))
            .with_host(str_bytes(""))
            .with_port(-1)
            .with_error_code(code.code())
            .with_error_message(Some(str_bytes(message)))
    };
    match key_type {
        0 if !crate::security::authorizer::Authz::new(ctx)
            .group(crate::security::acl::op::DESCRIBE, key) =>
        {
            return refuse(ResponseError::GroupAuthorizationFailed, "");
        }
        0 => {}
        1 => {
            return refuse(
                ResponseError::TransactionalIdAuthorizationFailed,
                "transactions are not supported by this broker",
            )
        }
        _ => {
            return refuse(
                ResponseError::InvalidRequest,
                "unknown coordinator key type",
            )
        }
    }
    if key.is_empty() {
        return refuse(ResponseError::InvalidRequest, "the group id is empty");
    }
    let broker = &ctx.broker;
    if let Err(e) = broker.groups.ready(broker) {
        return refuse(e, "the group coordinator is not available");
    }
    // The coordinator is the leader of the group's __consumer_offsets partition (Kafka's
    // `partitionFor` + the partition's leader); it may still be loading it, and then
    // answers COORDINATOR_LOAD_IN_PROGRESS to the group requests themselves.
    let image = broker.image();
    let index = broker.groups.partition_for(key);
    let leader = image
        .topic(crate::group::OFFSETS_TOPIC)
        .and_then(|t| t.leadership(usize::try_from(index).ok()?))
        .map_or(-1, |l| l.leader);
    let endpoint = image
        .brokers
        .get(&leader)
        .filter(|b| !b.fenced)
        .and_then(|b| b.endpoint(&broker.config.listener_name).cloned());
    match endpoint {
        _ if leader == broker.config.node_id => Coordinator::default()
            .with_key(str_bytes(key))
            .with_node_id(BrokerId(leader))
            .with_host(str_bytes(broker.advertised.host.clone()))
            .with_port(i32::from(broker.advertised.port)),
        Some(e) => Coordinator::default()
            .with_key(str_bytes(key))
            .with_node_id(BrokerId(leader))
            .with_host(str_bytes(e.host))
            .with_port(i32::from(e.port)),
        None => refuse(
            ResponseError::CoordinatorNotAvailable,
            "the group's offsets partition has no live leader",
        ),
    }
}
