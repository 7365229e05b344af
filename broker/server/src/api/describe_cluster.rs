//! DescribeCluster (key 60): cluster id, controller and brokers.

use super::str_bytes;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 1;

/// Endpoint types (v1+): broker listeners, and controller listeners (KIP-919).
const BROKERS: i8 = 1;
const CONTROLLERS: i8 = 2;

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> Option<DescribeClusterResponse> {
    let b = &ctx.broker;
    // As Kafka: anyone may describe the cluster; DESCRIBE on it only decides whether the
    // authorized operations asked for are computed (0 without it).
    if req.endpoint_type != BROKERS {
        let (code, message) = match (ctx.version, req.endpoint_type) {
            (0, _) => (
                ResponseError::InvalidRequest,
                "v0 describes broker endpoints",
            ),
            (_, CONTROLLERS) => (
                ResponseError::MismatchedEndpointType,
                "this is a broker endpoint; controllers are described by a controller listener",
            ),
            _ => (
                ResponseError::UnsupportedEndpointType,
                "unknown endpoint type",
            ),
        };
        return Some(
            DescribeClusterResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(message))),
        );
    }
    let mut resp = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(b.cluster_id()))
        .with_controller_id(BrokerId(super::metadata::controller_id(b)));
    if ctx.version >= 1 {
        resp = resp.with_endpoint_type(BROKERS);
    }
    let brokers = super::metadata::live_brokers(b)
        .into_iter()
        .map(|m| {
            DescribeClusterBroker::default()
                .with_broker_id(m.node_id)
                .with_host(m.host)
                .with_port(m.port)
                .with_rack(m.rack)
        })
        .collect();
    resp = resp.with_brokers(brokers);
    if req.include_cluster_authorized_operations {
        let authz = crate::security::authorizer::Authz::new(ctx);
        let ops = if authz.cluster(crate::security::acl::op::DESCRIBE) {
            authz.cluster_operations()
        } else {
            0
        };
        resp = resp.with_cluster_authorized_operations(ops);
    }
    Some(resp)
}
