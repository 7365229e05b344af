//! InitProducerId (key 22): a new producer id for an idempotent producer.
//!
//! Without a transactional id Kafka always hands out a fresh id at epoch 0, which
//! is what this does. Transactions are not offered (their APIs are not advertised),
//! so a transactional id is refused.

use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 4;

pub async fn handle(
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> Option<InitProducerIdResponse> {
    let resp = InitProducerIdResponse::default();
    if req.transactional_id.is_none()
        && !crate::security::authorizer::Authz::new(ctx).idempotent_write()
    {
        return Some(
            resp.with_error_code(ResponseError::ClusterAuthorizationFailed.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        );
    }
    if req.transactional_id.is_some() {
        tracing::info!(peer = %ctx.peer, "refusing a transactional producer: transactions are not supported");
        return Some(
            resp.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        );
    }
    match ctx.broker.next_producer_id().await {
        Ok(id) => Some(resp.with_producer_id(ProducerId(id)).with_producer_epoch(0)),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            Some(
                resp.with_error_code(ResponseError::KafkaStorageError.code())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
        }
    }
}
