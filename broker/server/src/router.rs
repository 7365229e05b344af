//! The route table: API key -> supported versions and handler.
//!
//! ApiVersions is answered from this table, so the broker advertises exactly what it
//! serves. A request for an API or version outside the table is answered as Kafka
//! answers it: ApiVersions gets UNSUPPORTED_VERSION with the table, anything else
//! closes the connection (Kafka's `InvalidRequestException`).

use crate::api;
use crate::broker::Broker;
use crate::stream::{Marked, StreamedFrame};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a handler needs to know about the request it serves.
pub struct RequestContext {
    pub broker: Arc<Broker>,
    pub header: RequestHeader,
    pub version: i16,
    /// The client's address, for logs.
    pub peer: std::net::SocketAddr,
    /// Who the client is: `User:ANONYMOUS` on PLAINTEXT, the SASL user, or the mapped
    /// certificate subject.
    pub principal: Arc<crate::security::Principal>,
}

/// Why a request could not be served; the connection is closed with a log line.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("response did not encode: {0}")]
    Encode(String),
}

/// A response frame, or none for `acks=0` produce.
pub type Reply = Option<Frame>;

/// A response frame (size, header, body): encoded whole, or with record data streamed from
/// the log (Fetch, see [`crate::stream`]).
pub enum Frame {
    Whole(BytesMut),
    Streamed(StreamedFrame),
}
type BoxFuture = Pin<Box<dyn Future<Output = Result<Reply, RequestError>> + Send>>;

/// One served API.
pub struct Route {
    pub key: ApiKey,
    pub min_version: i16,
    pub max_version: i16,
    pub call: fn(RequestContext, Bytes) -> BoxFuture,
}

/// Decodes a request body of type `Req` at the context's version.
pub fn decode<Req: Decodable>(ctx: &RequestContext, mut body: Bytes) -> Result<Req, RequestError> {
    let req = Req::decode(&mut body, ctx.version).map_err(|e| RequestError::Malformed {
        api: api_key(ctx),
        version: ctx.version,
        reason: e.to_string(),
    })?;
    Ok(req)
}

/// Encodes the whole response frame (size prefix, response header, body) in one
/// buffer sized up front, so record bytes are copied exactly once.
pub fn encode<Resp: Encodable>(ctx: &RequestContext, resp: &Resp) -> Result<Reply, RequestError> {
    let header_version = api_key(ctx).response_header_version(ctx.version);
    let header = ResponseHeader::default().with_correlation_id(ctx.header.correlation_id);
    // The codec reports errors as `anyhow::Error`.
    let err = |e: anyhow::Error| RequestError::Encode(e.to_string());
    let size = header.compute_size(header_version).map_err(err)?
        + resp.compute_size(ctx.version).map_err(err)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version).map_err(err)?;
    resp.encode(&mut buf, ctx.version).map_err(err)?;
    Ok(Some(Frame::Whole(buf)))
}

/// [`encode`] for a Fetch response whose records fields hold the markers of `marked`: the
/// record data is streamed from the log when the frame is written.
pub fn encode_streamed<Resp: Encodable>(
    ctx: &RequestContext,
    resp: &Resp,
    marked: Vec<Marked>,
) -> Result<Reply, RequestError> {
    let Some(Frame::Whole(buf)) = encode(ctx, resp)? else {
        return Err(RequestError::Encode("no frame".into()));
    };
    if marked.is_empty() {
        return Ok(Some(Frame::Whole(buf)));
    }
    let flexible = api_key(ctx).request_header_version(ctx.version) >= 2;
    Ok(Some(Frame::Streamed(StreamedFrame::build(
        buf, marked, flexible,
    )?)))
}

/// Counts every non-zero error code of a response by API and Kafka error name.
pub fn count_errors<Resp: api::error_codes::ErrorCodes>(ctx: &RequestContext, resp: &Resp) {
    let api = crate::metrics::api_name(api_key(ctx));
    resp.error_codes(&mut |code| {
        if code != 0 {
            ctx.broker.metrics.response_error(api, code);
        }
    });
}

fn api_key(ctx: &RequestContext) -> ApiKey {
    ApiKey::try_from(ctx.header.request_api_key).unwrap_or(ApiKey::ApiVersions)
}

/// Builds a [`Route`] from an API module exposing `MIN_VERSION`, `MAX_VERSION` and
/// `async fn handle(&RequestContext, Request) -> Option<Response>`.
macro_rules! route {
    ($key:expr, $module:ident, $req:ty) => {{
        fn call(ctx: RequestContext, body: Bytes) -> BoxFuture {
            Box::pin(async move {
                let req: $req = decode(&ctx, body)?;
                match api::$module::handle(&ctx, req).await {
                    Some(resp) => {
                        count_errors(&ctx, &resp);
                        encode(&ctx, &resp)
                    }
                    None => Ok(None),
                }
            })
        }
        Route {
            key: $key,
            min_version: api::$module::MIN_VERSION,
            max_version: api::$module::MAX_VERSION,
            call,
        }
    }};
}

use kafka_protocol::messages as m;

/// Fetch's route: as [`route!`], but the response's records are streamed from the log.
fn fetch_route() -> Route {
    fn call(ctx: RequestContext, body: Bytes) -> BoxFuture {
        Box::pin(async move {
            let req: m::FetchRequest = decode(&ctx, body)?;
            match api::fetch::handle(&ctx, req).await {
                Some((resp, marked)) => {
                    count_errors(&ctx, &resp);
                    encode_streamed(&ctx, &resp, marked)
                }
                None => Ok(None),
            }
        })
    }
    Route {
        key: ApiKey::Fetch,
        min_version: api::fetch::MIN_VERSION,
        max_version: api::fetch::MAX_VERSION,
        call,
    }
}

/// Every API the broker serves.
pub fn routes() -> Vec<Route> {
    vec![
        route!(ApiKey::Produce, produce, m::ProduceRequest),
        fetch_route(),
        route!(ApiKey::ListOffsets, list_offsets, m::ListOffsetsRequest),
        route!(
            ApiKey::OffsetForLeaderEpoch,
            offset_for_leader_epoch,
            m::OffsetForLeaderEpochRequest
        ),
        route!(ApiKey::Metadata, metadata, m::MetadataRequest),
        route!(ApiKey::ApiVersions, api_versions, m::ApiVersionsRequest),
        route!(ApiKey::CreateTopics, create_topics, m::CreateTopicsRequest),
        route!(ApiKey::DeleteTopics, delete_topics, m::DeleteTopicsRequest),
        route!(
            ApiKey::DeleteRecords,
            delete_records,
            m::DeleteRecordsRequest
        ),
        route!(
            ApiKey::InitProducerId,
            init_producer_id,
            m::InitProducerIdRequest
        ),
        route!(
            ApiKey::DescribeConfigs,
            describe_configs,
            m::DescribeConfigsRequest
        ),
        route!(ApiKey::AlterConfigs, alter_configs, m::AlterConfigsRequest),
        route!(
            ApiKey::CreatePartitions,
            create_partitions,
            m::CreatePartitionsRequest
        ),
        route!(ApiKey::ElectLeaders, elect_leaders, m::ElectLeadersRequest),
        route!(
            ApiKey::AlterPartitionReassignments,
            alter_partition_reassignments,
            m::AlterPartitionReassignmentsRequest
        ),
        route!(
            ApiKey::ListPartitionReassignments,
            list_partition_reassignments,
            m::ListPartitionReassignmentsRequest
        ),
        route!(
            ApiKey::IncrementalAlterConfigs,
            incremental_alter_configs,
            m::IncrementalAlterConfigsRequest
        ),
        route!(
            ApiKey::DescribeCluster,
            describe_cluster,
            m::DescribeClusterRequest
        ),
        route!(
            ApiKey::DescribeQuorum,
            describe_quorum,
            m::DescribeQuorumRequest
        ),
        route!(
            ApiKey::FindCoordinator,
            find_coordinator,
            m::FindCoordinatorRequest
        ),
        route!(ApiKey::JoinGroup, join_group, m::JoinGroupRequest),
        route!(ApiKey::SyncGroup, sync_group, m::SyncGroupRequest),
        route!(ApiKey::Heartbeat, heartbeat, m::HeartbeatRequest),
        route!(ApiKey::LeaveGroup, leave_group, m::LeaveGroupRequest),
        route!(ApiKey::OffsetCommit, offset_commit, m::OffsetCommitRequest),
        route!(ApiKey::OffsetFetch, offset_fetch, m::OffsetFetchRequest),
        route!(ApiKey::ListGroups, list_groups, m::ListGroupsRequest),
        route!(
            ApiKey::DescribeGroups,
            describe_groups,
            m::DescribeGroupsRequest
        ),
        route!(ApiKey::DeleteGroups, delete_groups, m::DeleteGroupsRequest),
        route!(ApiKey::OffsetDelete, offset_delete, m::OffsetDeleteRequest),
        route!(
            ApiKey::ConsumerGroupHeartbeat,
            consumer_group_heartbeat,
            m::ConsumerGroupHeartbeatRequest
        ),
        route!(ApiKey::CreateAcls, create_acls, m::CreateAclsRequest),
        route!(ApiKey::DescribeAcls, describe_acls, m::DescribeAclsRequest),
        route!(ApiKey::DeleteAcls, delete_acls, m::DeleteAclsRequest),
        route!(
            ApiKey::AlterUserScramCredentials,
            alter_user_scram_credentials,
            m::AlterUserScramCredentialsRequest
        ),
        route!(
            ApiKey::DescribeUserScramCredentials,
            describe_user_scram_credentials,
            m::DescribeUserScramCredentialsRequest
        ),
        route!(
            ApiKey::SaslHandshake,
            sasl_handshake,
            m::SaslHandshakeRequest
        ),
        route!(
            ApiKey::SaslAuthenticate,
            sasl_authenticate,
            m::SaslAuthenticateRequest
        ),
        route!(
            ApiKey::ConsumerGroupDescribe,
            consumer_group_describe,
            m::ConsumerGroupDescribeRequest
        ),
        route!(ApiKey::AddRaftVoter, add_raft_voter, m::AddRaftVoterRequest),
        route!(
            ApiKey::RemoveRaftVoter,
            remove_raft_voter,
            m::RemoveRaftVoterRequest
        ),
    ]
}

/// The route table, indexed by API key for O(1) dispatch.
pub struct Router {
    by_key: Vec<Option<Route>>,
}

impl Router {
    pub fn new() -> Router {
        let mut by_key: Vec<Option<Route>> = Vec::new();
        for r in routes() {
            let i = r.key as usize;
            if by_key.len() <= i {
                by_key.resize_with(i + 1, || None);
            }
            by_key[i] = Some(r);
        }
        Router { by_key }
    }

    /// The route for `key` if `version` is served.
    pub fn find(&self, key: i16, version: i16) -> Option<&Route> {
        let r = self.by_key.get(usize::try_from(key).ok()?)?.as_ref()?;
        (r.min_version..=r.max_version)
            .contains(&version)
            .then_some(r)
    }

    /// `(key, min, max)` for every served API, in key order: what ApiVersions says.
    pub fn advertised(&self) -> impl Iterator<Item = (i16, i16, i16)> + '_ {
        self.by_key
            .iter()
            .flatten()
            .map(|r| (r.key as i16, r.min_version, r.max_version))
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_versions_are_ones_the_codec_supports() {
        for r in routes() {
            let codec = r.key.valid_versions();
            assert!(
                codec.min <= r.min_version && r.max_version <= codec.max,
                "{:?} advertises {}..={} but the codec knows {}",
                r.key,
                r.min_version,
                r.max_version,
                codec
            );
        }
    }

    #[test]
    fn unknown_keys_and_versions_have_no_route() {
        let router = Router::new();
        assert!(router.find(-1, 0).is_none());
        assert!(router.find(9999, 0).is_none());
        assert!(router.find(ApiKey::Produce as i16, 99).is_none());
        assert!(router.find(ApiKey::Produce as i16, 3).is_some());
    }
}
