//! Kubernetes Events for the steps that change a cluster, so `kubectl describe` and
//! `kubectl get events` show what the operator did and why.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};

use crate::context::Context;

/// Publishes an event about `regarding`, optionally naming a `related` object (events of the
/// same reason about different related objects are separate events, not one series). Best effort: an event that cannot be written is
/// logged, never a reason to fail the step it describes.
pub async fn publish(
    ctx: &Context,
    regarding: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
    related: Option<ObjectReference>,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: related,
    };
    if let Err(e) = ctx.recorder.publish(&event, regarding).await {
        tracing::warn!(reason, error = %e, "publishing an event failed");
    }
}

/// A Normal event.
pub async fn normal(
    ctx: &Context,
    regarding: &ObjectReference,
    reason: &str,
    action: &str,
    note: String,
) {
    publish(
        ctx,
        regarding,
        EventType::Normal,
        reason,
        action,
        note,
        None,
    )
    .await;
}

/// A Warning event.
pub async fn warning(
    ctx: &Context,
    regarding: &ObjectReference,
    reason: &str,
    action: &str,
    note: String,
) {
    publish(
        ctx,
        regarding,
        EventType::Warning,
        reason,
        action,
        note,
        None,
    )
    .await;
}
