//! AlterUserScramCredentials (key 51): ALTER on the cluster; upsertions carry the salted
//! password, from which the broker derives and stores StoredKey and ServerKey only.
//! Per-user errors as Kafka: a user named twice is DUPLICATE_RESOURCE, a bad mechanism
//! UNSUPPORTED_SASL_MECHANISM, too few iterations UNACCEPTABLE_CREDENTIAL, a deletion of a
//! missing credential RESOURCE_NOT_FOUND.

use super::str_bytes;
use crate::quorum::controller::Command;
use crate::router::RequestContext;
use crate::security::acl::op;
use crate::security::authorizer::Authz;
use crate::security::commands::SecurityCommand;
use crate::security::scram::{credential_from_salted, ScramHash};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use std::collections::HashMap;

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 0;

/// Kafka's bound on SCRAM iterations.
const MAX_ITERATIONS: i32 = 16384;

pub async fn handle(
    ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> Option<AlterUserScramCredentialsResponse> {
    let authz = Authz::new(ctx);
    let allowed = authz.cluster(op::ALTER);
    let mut count: HashMap<String, usize> = HashMap::new();
    for name in req
        .deletions
        .iter()
        .map(|d| &d.name)
        .chain(req.upsertions.iter().map(|u| &u.name))
    {
        *count.entry(name.to_string()).or_default() += 1;
    }
    let mut errors: HashMap<String, (ResponseError, String)> = HashMap::new();
    let mut commands: Vec<(String, SecurityCommand)> = Vec::new();
    for d in &req.deletions {
        let user = d.name.to_string();
        match ScramHash::from_kafka(d.mechanism) {
            None => {
                errors.insert(
                    user,
                    (
                        ResponseError::UnsupportedSaslMechanism,
                        "Unknown SCRAM mechanism".into(),
                    ),
                );
            }
            Some(h) => commands.push((
                user.clone(),
                SecurityCommand::DeleteScram {
                    user,
                    mechanism: h.kafka_id(),
                },
            )),
        }
    }
    for u in &req.upsertions {
        let user = u.name.to_string();
        let Some(hash) = ScramHash::from_kafka(u.mechanism) else {
            errors.insert(
                user,
                (
                    ResponseError::UnsupportedSaslMechanism,
                    "Unknown SCRAM mechanism".into(),
                ),
            );
            continue;
        };
        if u.iterations < hash.min_iterations() || u.iterations > MAX_ITERATIONS {
            errors.insert(
                user,
                (
                    ResponseError::UnacceptableCredential,
                    format!(
                        "iterations must be between {} and {MAX_ITERATIONS}",
                        hash.min_iterations()
                    ),
                ),
            );
            continue;
        }
        if u.salt.is_empty() || u.salted_password.is_empty() || u.name.is_empty() {
            errors.insert(
                user,
                (
                    ResponseError::UnacceptableCredential,
                    "empty user, salt or salted password".into(),
                ),
            );
            continue;
        }
        let credential =
            credential_from_salted(hash, u.salt.to_vec(), u.iterations, &u.salted_password);
        commands.push((
            user.clone(),
            SecurityCommand::SetScram {
                user,
                mechanism: hash.kafka_id(),
                credential,
            },
        ));
    }
    let mut order: Vec<String> = Vec::new();
    for name in req
        .deletions
        .iter()
        .map(|d| d.name.to_string())
        .chain(req.upsertions.iter().map(|u| u.name.to_string()))
    {
        if !order.contains(&name) {
            order.push(name);
        }
    }
    for (user, n) in &count {
        if *n > 1 {
            errors.insert(
                user.clone(),
                (
                    ResponseError::DuplicateResource,
                    "A user credential cannot be altered twice in the same request".into(),
                ),
            );
        }
    }
    if !allowed {
        for user in &order {
            errors.insert(
                user.clone(),
                (ResponseError::ClusterAuthorizationFailed, String::new()),
            );
        }
    }
    for (user, cmd) in commands {
        if errors.contains_key(&user) {
            continue;
        }
        if let Err(e) = ctx.broker.submit(Command::Security(cmd)).await {
            errors.insert(user, (e.code, e.message));
        }
    }
    let results = order
        .into_iter()
        .map(|user| {
            let r = AlterUserScramCredentialsResult::default().with_user(str_bytes(user.clone()));
            match errors.remove(&user) {
                None => r,
                Some((code, m)) => r
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(m))),
            }
        })
        .collect();
    Some(AlterUserScramCredentialsResponse::default().with_results(results))
}
