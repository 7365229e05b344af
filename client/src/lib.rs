//! A small async Kafka admin client, written on the `kafka-protocol` crate and tokio.
//!
//! Used by the Fjord operator (topics, cluster health), by the end-to-end tests and by the
//! `fjord` CLI. It speaks to any Kafka-compatible broker: on connect it asks the broker which
//! API versions it serves (ApiVersions) and then uses, per API, the highest version both sides
//! support.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fjord_client::ClientError> {
//! use fjord_client::{AdminClient, NewTopic};
//! let admin = AdminClient::connect("localhost:9092").await?;
//! let id = admin
//!     .create_topic(
//!         &NewTopic { name: "orders".into(), partitions: 3, replication_factor: 1, ..Default::default() },
//!         false,
//!     )
//!     .await?;
//! println!("created orders as {id}");
//! # Ok(()) }
//! ```
//!
//! Layout: [`frame`] (length-prefixed frames), [`connection`] (one socket, version negotiation),
//! `admin/` (the [`AdminClient`] calls, one file per concern), [`codes`] (Kafka error names),
//! [`security`] (TLS, SASL PLAIN and SCRAM, Kafka's client security properties).

pub mod acl;
pub mod codes;
pub mod connection;
pub mod frame;
pub mod security;

mod admin;
mod error;
mod stream;
mod types;

pub use admin::{
    AdminClient, ElectionOutcome, ElectionType, FetchedPartition, FetchedRecord, GroupDescription,
    GroupListing, MemberDescription, NewRecord, OffsetSpec, OngoingReassignment, QuorumInfo,
    QuorumReplica, Reassignment, ScramAlteration, UserScramCredentials,
};
pub use connection::{ClientConfig, Connection};
pub use error::ClientError;
pub use types::{
    BrokerInfo, ClusterInfo, ConfigEntry, ConfigSource, NewTopic, PartitionInfo, TopicInfo,
};

/// The `kafka-protocol` crate this client is built on, so callers of [`Connection::send`] use
/// the same message types.
pub use kafka_protocol;
