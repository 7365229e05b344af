//! DescribeUserScramCredentials (key 50): DESCRIBE on the cluster; mechanisms and
//! iterations per user (never salts or keys). A named user without credentials is
//! RESOURCE_NOT_FOUND, as Kafka.

use super::str_bytes;
use crate::router::RequestContext;
use crate::security::acl::op;
use crate::security::authorizer::Authz;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use std::collections::BTreeMap;

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 0;

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> Option<DescribeUserScramCredentialsResponse> {
    let resp = DescribeUserScramCredentialsResponse::default();
    if !Authz::new(ctx).cluster(op::DESCRIBE) {
        return Some(resp.with_error_code(ResponseError::ClusterAuthorizationFailed.code()));
    }
    let image = ctx.broker.image();
    let mut all: BTreeMap<&str, Vec<CredentialInfo>> = BTreeMap::new();
    for ((user, mechanism), c) in &image.scram {
        all.entry(user.as_str()).or_default().push(
            CredentialInfo::default()
                .with_mechanism(*mechanism)
                .with_iterations(c.iterations),
        );
    }
    let wanted: Vec<String> = match &req.users {
        None => all.keys().map(|u| u.to_string()).collect(),
        Some(users) if users.is_empty() => all.keys().map(|u| u.to_string()).collect(),
        Some(users) => users.iter().map(|u| u.name.to_string()).collect(),
    };
    let mut results = Vec::with_capacity(wanted.len());
    let mut seen = std::collections::HashSet::new();
    for user in wanted {
        let r = DescribeUserScramCredentialsResult::default().with_user(str_bytes(user.clone()));
        if !seen.insert(user.clone()) {
            results.push(
                r.with_error_code(ResponseError::DuplicateResource.code())
                    .with_error_message(Some(str_bytes(
                    "Cannot describe SCRAM credentials for the same user twice in a single request",
                ))),
            );
            continue;
        }
        results.push(match all.get(user.as_str()) {
            Some(infos) => r.with_credential_infos(infos.clone()),
            None => r
                .with_error_code(ResponseError::ResourceNotFound.code())
                .with_error_message(Some(str_bytes(format!(
                    "Attempt to describe a user credential that does not exist: {user}"
                )))),
        });
    }
    Some(resp.with_results(results))
}
