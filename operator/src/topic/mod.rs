//! The Topic controller: keeps a Kafka topic on a Fjord cluster at its spec.
//!
//! Steps: finalizer -> resolve the Cluster -> connect to its brokers -> observe the topic ->
//! [`plan::plan_topic`] -> perform the plan (create, grow, configs) -> status. Deletion runs
//! through the finalizer: the Kafka topic is deleted unless `deletionPolicy: Retain`, and the
//! finalizer is released without touching Kafka when the Cluster is gone, so deleting a
//! namespace never hangs on it.

pub mod plan;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_client::AdminClient;
use fjord_crds::condition::{DEGRADED, READY, RECONCILING};
use fjord_crds::topic::DeletionPolicy;
use fjord_crds::{Cluster, Topic, TopicStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event as FinalizerEvent};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::conditions::{conditions, Cond};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::names::{FIELD_MANAGER, TOPIC_FINALIZER};
use plan::{plan_topic, replication_factor, TopicPlan};

/// Controller name in metrics and logs.
pub const CONTROLLER: &str = "topic";
/// Kafka's UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// How often a Ready topic is checked for drift on the brokers.
const RESYNC: Duration = Duration::from_secs(300);

/// Entry point for `kube::runtime::Controller`.
pub async fn reconcile(topic: Arc<Topic>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let result = match api(&ctx, &topic) {
        Ok(topics) => finalizer(&topics, TOPIC_FINALIZER, topic.clone(), |event| async {
            match event {
                FinalizerEvent::Apply(t) => reconcile_steps(&t, &ctx).await,
                FinalizerEvent::Cleanup(t) => {
                    cleanup(&t, &ctx).await?;
                    Ok(Action::await_change())
                }
            }
        })
        .await
        .map_err(Error::from_finalizer),
        Err(e) => Err(e),
    };
    ctx.metrics.observe(CONTROLLER, &result, started.elapsed());
    match &result {
        Ok(_) => ctx.backoff.succeeded(&backoff_key(&topic)),
        Err(e) => {
            tracing::warn!(topic = %topic.name_any(), error = %e, reason = e.reason(), "reconcile failed");
            if topic.meta().deletion_timestamp.is_none() {
                let cond = Cond::new(READY, false, condition_reason(e), e.to_string());
                let _ = write_status(&topic, &ctx, failed_status(&topic, cond)).await;
            }
        }
    }
    result
}

/// Requeue after an error, with a pause that grows with the Topic's consecutive failures.
pub fn error_policy(topic: Arc<Topic>, _error: &Error, ctx: Arc<Context>) -> Action {
    Action::requeue(ctx.backoff.failed(&backoff_key(&topic)))
}

fn backoff_key(topic: &Topic) -> String {
    crate::backoff::key("Topic", topic.namespace().as_deref(), &topic.name_any())
}

fn api(ctx: &Context, topic: &Topic) -> Result<Api<Topic>> {
    let ns = topic
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    Ok(Api::namespaced(ctx.client.clone(), &ns))
}

/// The Apply side of the finalizer: the finalizer is in place, bring the Kafka topic to spec.
async fn reconcile_steps(topic: &Topic, ctx: &Context) -> Result<Action> {
    let Some(cluster) = find_cluster(topic, ctx).await? else {
        let cond = Cond::new(
            READY,
            false,
            "ClusterNotFound",
            format!(
                "Cluster {} does not exist in this namespace",
                topic.spec.cluster
            ),
        );
        write_status(topic, ctx, failed_status(topic, cond)).await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };

    let admin = ctx.admin(&cluster).await?;
    let name = topic.kafka_name();
    let brokers = broker_call("DescribeCluster", admin.describe_cluster())
        .await?
        .brokers;
    let observed = broker_call("Metadata", admin.describe_topic(&name)).await?;
    let configs = match &observed {
        Some(_) => broker_call("DescribeConfigs", admin.describe_topic_configs(&name)).await?,
        None => Vec::new(),
    };
    let plan = plan_topic(&name, &topic.spec, &brokers, observed.as_ref(), &configs)?;
    let created_id = perform(&admin, &name, &plan).await?;

    let status = topic_status(topic, &plan, observed.as_ref(), created_id);
    write_status(topic, ctx, status).await?;
    // A replication-factor change completes on the brokers without any watch event.
    Ok(Action::requeue(match plan.reassign.is_empty() {
        true => RESYNC,
        false => Duration::from_secs(2),
    }))
}

/// Performs `plan`; returns the id of a topic it created.
async fn perform(admin: &AdminClient, name: &str, plan: &TopicPlan) -> Result<Option<uuid::Uuid>> {
    let mut created = None;
    if let Some(new) = &plan.create {
        tracing::info!(topic = name, partitions = new.partitions, "creating topic");
        created = Some(broker_call("CreateTopics", admin.create_topic(new, false)).await?);
    }
    if let Some((total, assignment)) = &plan.grow {
        tracing::info!(topic = name, partitions = total, "adding partitions");
        broker_call(
            "CreatePartitions",
            admin.create_partitions(name, *total, Some(assignment.clone())),
        )
        .await?;
    }
    if !plan.reassign.is_empty() {
        change_replication_factor(admin, name, &plan.reassign).await?;
    }
    if !plan.set_configs.is_empty() || !plan.delete_configs.is_empty() {
        tracing::info!(topic = name, set = ?plan.set_configs.keys(), reset = ?plan.delete_configs, "altering configs");
        broker_call(
            "IncrementalAlterConfigs",
            admin.alter_topic_configs(name, &plan.set_configs, &plan.delete_configs),
        )
        .await?;
    }
    Ok(created)
}

/// Starts the reassignments of a replication-factor change, unless some of the topic's
/// are still running (their replicas are then the union of old and new, not a new plan).
async fn change_replication_factor(
    admin: &AdminClient,
    name: &str,
    reassign: &[(i32, Vec<i32>)],
) -> Result<()> {
    let partitions: Vec<(String, i32)> = reassign.iter().map(|(p, _)| (name.into(), *p)).collect();
    let ongoing = broker_call(
        "ListPartitionReassignments",
        admin.list_partition_reassignments(&partitions),
    )
    .await?;
    if !ongoing.is_empty() {
        return Ok(());
    }
    tracing::info!(
        topic = name,
        partitions = reassign.len(),
        "changing the replication factor"
    );
    let moves: Vec<fjord_client::Reassignment> = reassign
        .iter()
        .map(|(partition, replicas)| fjord_client::Reassignment {
            topic: name.into(),
            partition: *partition,
            replicas: Some(replicas.clone()),
        })
        .collect();
    let results = broker_call(
        "AlterPartitionReassignments",
        admin.alter_partition_reassignments(&moves),
    )
    .await?;
    match results.into_iter().find_map(|r| r.err()) {
        None => Ok(()),
        Some(e) => Err(Error::BrokerRequest {
            operation: "AlterPartitionReassignments",
            message: e.to_string(),
        }),
    }
}

async fn broker_call<T>(
    operation: &'static str,
    call: impl std::future::Future<Output = Result<T, fjord_client::ClientError>>,
) -> Result<T> {
    call.await.map_err(|e| Error::BrokerRequest {
        operation,
        message: e.to_string(),
    })
}

/// Deletes the Kafka topic unless the policy or the Cluster's absence says to leave it.
async fn cleanup(topic: &Topic, ctx: &Context) -> Result<()> {
    let name = topic.kafka_name();
    if topic.spec.deletion_policy == DeletionPolicy::Retain {
        tracing::info!(topic = %name, "deletionPolicy Retain: keeping the Kafka topic");
        return Ok(());
    }
    let cluster = match find_cluster(topic, ctx).await? {
        Some(c) if c.meta().deletion_timestamp.is_none() => c,
        _ => {
            // The topic went with its cluster; waiting for brokers that will never answer
            // would wedge the namespace.
            tracing::info!(topic = %name, "cluster gone: releasing the finalizer");
            return Ok(());
        }
    };
    let admin = ctx.admin(&cluster).await?;
    match admin.delete_topic(&name).await {
        Ok(()) => {
            tracing::info!(topic = %name, "deleted Kafka topic");
            Ok(())
        }
        Err(e) if e.kafka_code() == Some(UNKNOWN_TOPIC_OR_PARTITION) => Ok(()),
        Err(e) => Err(Error::BrokerRequest {
            operation: "DeleteTopics",
            message: e.to_string(),
        }),
    }
}

async fn find_cluster(topic: &Topic, ctx: &Context) -> Result<Option<Cluster>> {
    let ns = topic
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let clusters: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ns);
    Ok(clusters.get_opt(&topic.spec.cluster).await?)
}

fn topic_status(
    topic: &Topic,
    plan: &TopicPlan,
    observed: Option<&fjord_client::TopicInfo>,
    created_id: Option<uuid::Uuid>,
) -> TopicStatus {
    let previous = topic.status.clone().unwrap_or_default();
    let id = created_id
        .or_else(|| observed.map(|t| t.topic_id))
        .filter(|id| !id.is_nil())
        .map(|id| id.to_string())
        .or(previous.topic_id.clone());
    let partitions = match (&plan.grow, observed) {
        (Some((total, _)), _) => *total,
        (None, Some(t)) => t.partitions.len() as i32,
        (None, None) => topic.spec.partitions,
    };
    let rf = observed
        .and_then(replication_factor)
        .unwrap_or(topic.spec.replication_factor);
    let wanted = match plan.refusals.first() {
        None if !plan.reassign.is_empty() => {
            let why = format!(
                "replication factor {rf} -> {}: {} partition(s) being reassigned",
                topic.spec.replication_factor,
                plan.reassign.len()
            );
            vec![
                Cond::new(READY, false, "ReplicationFactorChanging", why.clone()),
                Cond::new(RECONCILING, true, "ReplicationFactorChanging", why),
                Cond::new(DEGRADED, false, "AsExpected", ""),
            ]
        }
        Some(r) => vec![
            Cond::new(READY, false, r.reason(), r.message()),
            Cond::new(
                RECONCILING,
                false,
                r.reason(),
                "change the spec back to continue",
            ),
            Cond::new(DEGRADED, true, r.reason(), r.message()),
        ],
        None => vec![
            Cond::new(
                READY,
                true,
                "TopicReady",
                format!("{partitions} partitions, replication factor {rf}"),
            ),
            Cond::new(RECONCILING, false, "Reconciled", ""),
            Cond::new(DEGRADED, false, "AsExpected", ""),
        ],
    };
    let now = Time(jiff::Timestamp::now());
    TopicStatus {
        observed_generation: topic.metadata.generation,
        conditions: conditions(
            &wanted,
            &previous.conditions,
            topic.metadata.generation,
            &now,
        ),
        topic_name: Some(topic.kafka_name()),
        topic_id: id,
        partitions: Some(partitions),
        replication_factor: Some(rf),
        config_drift: config_drift(topic, &previous, plan),
    }
}

/// Differences are drift only when the spec did not change since the last reconcile (else they
/// are the spec change being applied). Drift is corrected as soon as it is seen, so the next
/// reconcile finds none: what was seen under this spec is kept so users can see it happened.
fn config_drift(
    topic: &Topic,
    previous: &TopicStatus,
    plan: &TopicPlan,
) -> Vec<fjord_crds::topic::ConfigDrift> {
    if previous.observed_generation != topic.metadata.generation {
        Vec::new()
    } else if plan.drift.is_empty() {
        previous.config_drift.clone()
    } else {
        plan.drift.clone()
    }
}

/// Previous status with `ready` as the Ready condition and Reconciling set.
fn failed_status(topic: &Topic, ready: Cond) -> TopicStatus {
    let previous = topic.status.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let wanted = [
        Cond::new(RECONCILING, true, ready.reason, ready.message.clone()),
        Cond::new(DEGRADED, true, ready.reason, ready.message.clone()),
        ready,
    ];
    TopicStatus {
        conditions: conditions(
            &wanted,
            &previous.conditions,
            topic.metadata.generation,
            &now,
        ),
        ..previous
    }
}

/// Condition reason for a failed reconcile.
fn condition_reason(e: &Error) -> &'static str {
    match e {
        Error::BrokerUnreachable { .. } => "BrokersUnreachable",
        Error::BrokerRequest { .. } => "BrokerRequestFailed",
        Error::Assignment(_) => "ReplicaAssignmentImpossible",
        Error::Kube(_) => "KubernetesApiError",
        Error::Serialize { .. } | Error::MissingObjectKey(_) | Error::Finalizer(_) => {
            "InternalError"
        }
    }
}

async fn write_status(topic: &Topic, ctx: &Context, status: TopicStatus) -> Result<()> {
    let patch = json!({
        "apiVersion": "fjord.dev/v1alpha1",
        "kind": "Topic",
        "status": status,
    });
    api(ctx, topic)?
        .patch_status(
            &topic.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}
