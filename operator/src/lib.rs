//! The Fjord operator: controllers that run Fjord clusters and topics on Kubernetes.
//!
//! - [`cluster`]: Cluster -> ConfigMap, Services, StatefulSet, PodDisruptionBudget,
//!   ServiceMonitor, each built by a pure function in [`desired`] and server-side applied.
//! - [`topic`]: Topic -> a Kafka topic, through the cluster's bootstrap Service.
//! - [`leader`], [`metrics`], [`http`]: what the binary needs to run two replicas safely and be
//!   observed.

pub mod apply;
pub mod assignment;
pub mod backoff;
pub mod cluster;
pub mod conditions;
pub mod context;
pub mod desired;
pub mod error;
pub mod events;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod names;
pub mod roll;
pub mod run;
pub mod scale;
pub mod topic;
