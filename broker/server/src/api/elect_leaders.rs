//! ElectLeaders (key 43): move leadership back to each partition's preferred replica
//! (PREFERRED), or give a leaderless partition a live out-of-sync replica as leader
//! (UNCLEAN, v2). Any broker takes the request; the active controller decides and commits
//! it (`quorum::elect`), and the answer follows the commit.
//!
//! As Kafka: ALTER on the CLUSTER is required, else every named partition (and, from v1, the
//! top level) gets CLUSTER_AUTHORIZATION_FAILED; a null topic list means every partition
//! and is answered only for the partitions that needed an election. A partition named more
//! than once gets INVALID_REQUEST on each of its entries and is not elected.

use super::{str_bytes, topic_name};
use crate::quorum::controller::Command;
use crate::quorum::elect::ElectionResult;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use std::collections::{HashMap, HashSet};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 2;

pub async fn handle(
    ctx: &RequestContext,
    req: ElectLeadersRequest,
) -> Option<ElectLeadersResponse> {
    let authz = crate::security::authorizer::Authz::new(ctx);
    if !authz.cluster(crate::security::acl::op::ALTER) {
        return Some(refuse_all(
            ctx,
            &req,
            ResponseError::ClusterAuthorizationFailed.code(),
            None,
        ));
    }
    let named = req.topic_partitions.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.0.to_string(), p)))
            .collect::<Vec<_>>()
    });
    let dupes = named.as_deref().map(repeated).unwrap_or_default();
    let ask = named.map(|n| {
        let mut seen = HashSet::new();
        n.into_iter()
            .filter(|k| !dupes.contains(k) && seen.insert(k.clone()))
            .collect::<Vec<_>>()
    });
    let cmd = Command::ElectLeaders {
        election_type: req.election_type,
        partitions: ask,
    };
    let done = match ctx.broker.submit(cmd).await {
        Ok(done) => done,
        Err(e) => return Some(refuse_all(ctx, &req, e.code.code(), Some(e.message))),
    };
    let elected = done.elections.iter().filter(|r| r.code == 0).count();
    if elected > 0 {
        tracing::info!(
            partitions = elected,
            election_type = req.election_type,
            "leaders elected on request (ElectLeaders)"
        );
    }
    let results = match &req.topic_partitions {
        None => by_topic(done.elections),
        Some(topics) => {
            let answers: HashMap<(String, i32), ElectionResult> = done
                .elections
                .into_iter()
                .map(|r| ((r.topic.clone(), r.partition), r))
                .collect();
            topics
                .iter()
                .map(|t| {
                    let partitions = t.partitions.iter().map(|&p| {
                        let key = (t.topic.0.to_string(), p);
                        let (code, message) = if dupes.contains(&key) {
                            (
                                ResponseError::InvalidRequest.code(),
                                Some("partition appears more than once in the request".to_string()),
                            )
                        } else {
                            answers
                                .get(&key)
                                .map_or((ResponseError::UnknownServerError.code(), None), |r| {
                                    (r.code, r.message.clone())
                                })
                        };
                        partition_result(p, code, message)
                    });
                    ReplicaElectionResult::default()
                        .with_topic(t.topic.clone())
                        .with_partition_result(partitions.collect())
                })
                .collect()
        }
    };
    Some(ElectLeadersResponse::default().with_replica_election_results(results))
}

/// `(topic, partition)` pairs named more than once.
fn repeated(named: &[(String, i32)]) -> HashSet<(String, i32)> {
    let mut seen = HashSet::new();
    named.iter().filter(|k| !seen.insert(*k)).cloned().collect()
}

/// Results grouped by topic, topics in the order they first appear.
fn by_topic(results: Vec<ElectionResult>) -> Vec<ReplicaElectionResult> {
    let mut out: Vec<ReplicaElectionResult> = Vec::new();
    for r in results {
        let p = partition_result(r.partition, r.code, r.message);
        match out.last_mut() {
            Some(last) if *last.topic.0 == *r.topic => last.partition_result.push(p),
            _ => out.push(
                ReplicaElectionResult::default()
                    .with_topic(topic_name(&r.topic))
                    .with_partition_result(vec![p]),
            ),
        }
    }
    out
}

fn partition_result(partition: i32, code: i16, message: Option<String>) -> PartitionResult {
    PartitionResult::default()
        .with_partition_id(partition)
        .with_error_code(code)
        .with_error_message(message.map(str_bytes))
}

/// Kafka's `getErrorResponse`: the error on every named partition and, from v1, at the top.
fn refuse_all(
    ctx: &RequestContext,
    req: &ElectLeadersRequest,
    code: i16,
    message: Option<String>,
) -> ElectLeadersResponse {
    let results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| {
            ReplicaElectionResult::default()
                .with_topic(t.topic.clone())
                .with_partition_result(
                    t.partitions
                        .iter()
                        .map(|&p| partition_result(p, code, message.clone()))
                        .collect(),
                )
        })
        .collect();
    let top = if ctx.version >= 1 { code } else { 0 };
    ElectLeadersResponse::default()
        .with_error_code(top)
        .with_replica_election_results(results)
}
