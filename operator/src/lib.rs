//! The Fjord operator: controllers that run Fjord clusters and topics on Kubernetes.
//!
//! - [`cluster`]: Cluster -> ConfigMap, Services, StatefulSet, PodDisruptionBudget,
//!   ServiceMonitor, each built by a pure function in [`desired`] and server-side applied.
//! - [`topic`]: Topic -> a Kafka topic, through the cluster's bootstrap Service.
//! - [`leader`], [`metrics`], [`http`]: what the binary needs to run two replicas safely and be
//!   observed.

pub mod assignment;
pub mod desired;
pub mod error;
pub mod names;
pub mod apply;
pub mod cluster;
pub mod conditions;
pub mod context;
pub mod metrics;
pub mod topic;
pub mod http;
pub mod leader;
pub mod run;
