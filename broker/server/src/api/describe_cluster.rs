//! DescribeCluster (key 60): cluster id, controller and brokers.

use super::str_bytes;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 1;

/// Endpoint type of broker listeners (v1+); 2 would be controllers.
const BROKERS: i8 = 1;

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> Option<DescribeClusterResponse> {
    let b = &ctx.broker;
    let authz = crate::security::authorizer::Authz::new(ctx);
    if !authz.cluster(crate::security::acl::op::DESCRIBE) {
        return Some(
            DescribeClusterResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
        );
    }
    let mut resp = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(b.cluster_id()))
        .with_controller_id(BrokerId(super::metadata::controller_id(b)));
    if ctx.version >= 1 {
        resp = resp.with_endpoint_type(BROKERS);
        if req.endpoint_type != BROKERS {
            return Some(
                resp.with_error_code(ResponseError::UnsupportedEndpointType.code())
                    .with_error_message(Some(str_bytes("only broker endpoints are described"))),
            );
        }
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
        resp = resp.with_cluster_authorized_operations(authz.cluster_operations());
    }
    Some(resp)
}
