//! fjord-broker: a broker that speaks the Apache Kafka wire protocol.
//!
//! `listener` accepts, `connection` frames, `router` dispatches to one module per
//! Kafka API under `api/`. `broker` holds the shared state; `metadata` is the
//! cluster metadata log and image; `topics` carries out topic changes; partition
//! logs live in the `fjord-storage` crate.

pub mod api;
pub mod blocking;
pub mod broker;
pub mod budget;
pub mod config;
pub mod connection;
pub mod connection_quotas;
pub mod descriptors;
pub mod disk;
pub mod dynamic_config;
pub mod gauges;
pub mod group;
pub mod http;
pub mod leadership;
pub mod listener;
pub mod maintenance;
pub mod metadata;
pub mod metrics;
pub mod partition;
pub mod quorum;
pub mod replication;
pub mod rlimit;
pub mod router;
pub mod security;
pub mod server;
pub mod shutdown;
pub mod stream;
pub mod throttled_log;
pub mod topic_config;
pub mod topics;
