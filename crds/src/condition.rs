//! Condition types and reasons shared by the operator and anyone reading status.

/// `True` when the resource is fully reconciled and serving.
pub const READY: &str = "Ready";
/// `True` while the operator is still converging on the spec.
pub const RECONCILING: &str = "Reconciling";
/// `True` when something is wrong that needs a human or time (with a reason saying what).
pub const DEGRADED: &str = "Degraded";
/// `True` while broker pods are being restarted one at a time onto a new revision.
pub const ROLLING: &str = "Rolling";
/// `True` while brokers the spec added do not all exist yet.
pub const SCALING_UP: &str = "ScalingUp";
/// `True` while brokers beyond `spec.replicas` are still present.
pub const DRAINING: &str = "Draining";
