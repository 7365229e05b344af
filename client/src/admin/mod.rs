//! [`AdminClient`]: topic and cluster administration over one pooled connection.
//!
//! Routing: every request goes to whichever bootstrap broker answered first. Fjord brokers
//! forward controller-only work (CreateTopics, DeleteTopics, configs) to the active controller
//! themselves, so no controller routing is done here; a broker that answers NOT_CONTROLLER
//! surfaces as that Kafka error. Sending to the controller directly can come later without
//! changing this API.

mod acls;
mod cluster;
mod config_lookup;
mod configs;
mod elections;
mod groups;
mod nodes;
mod offsets;
mod quorum;
mod reassignments;
mod records;
mod topics;
mod users;

pub use elections::{ElectionOutcome, ElectionType};
pub use groups::{GroupDescription, GroupListing, MemberDescription};
pub use offsets::OffsetSpec;
pub use quorum::{QuorumInfo, QuorumReplica};
pub use reassignments::{OngoingReassignment, Reassignment};
pub use records::{FetchedPartition, FetchedRecord, NewRecord};
pub use users::{ScramAlteration, UserScramCredentials};

use std::sync::Arc;

use kafka_protocol::protocol::{Request, VersionRange};
use tokio::sync::Mutex;

use crate::connection::{ClientConfig, Connection};
use crate::ClientError;

/// An async Kafka admin client. Cheap to clone: clones share one connection.
///
/// Requests are serialised on that connection. When it breaks (I/O error, timeout, malformed
/// response) it is dropped and the next request reconnects, trying the bootstrap addresses in
/// order. Read-only requests are retried once on a fresh connection; requests that change the
/// cluster are not, since the first attempt may have been applied.
#[derive(Debug, Clone)]
pub struct AdminClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    bootstrap: Vec<String>,
    config: ClientConfig,
    connection: Mutex<Option<Connection>>,
    /// Connections to specific brokers (partition leaders, group coordinators), by address.
    nodes: Mutex<std::collections::HashMap<String, Connection>>,
}

/// Whether a request may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Read-only: resend once on a fresh connection after a transport failure.
    Once,
    /// Changes state: a transport failure is returned as is.
    Never,
}

impl AdminClient {
    /// Connects to the first reachable broker of `bootstrap` (`host:port[,host:port]`) with
    /// default timeouts.
    pub async fn connect(bootstrap: &str) -> Result<AdminClient, ClientError> {
        AdminClient::connect_with(bootstrap, ClientConfig::default()).await
    }

    /// Like [`AdminClient::connect`], with explicit timeouts and client id.
    pub async fn connect_with(
        bootstrap: &str,
        config: ClientConfig,
    ) -> Result<AdminClient, ClientError> {
        let bootstrap = parse_bootstrap(bootstrap)?;
        let client = AdminClient {
            inner: Arc::new(Inner {
                bootstrap,
                config,
                connection: Mutex::new(None),
                nodes: Mutex::new(std::collections::HashMap::new()),
            }),
        };
        let mut slot = client.inner.connection.lock().await;
        client.ensure_connected(&mut slot).await?;
        drop(slot);
        Ok(client)
    }

    /// The client's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Sends the request `build` makes for the negotiated version, and returns the response
    /// with that version. `client` is the version range the caller's code knows how to fill
    /// and read.
    async fn call<R: Request>(
        &self,
        client: VersionRange,
        retry: Retry,
        build: impl Fn(i16) -> R,
    ) -> Result<(R::Response, i16), ClientError> {
        let mut slot = self.inner.connection.lock().await;
        let mut retried = false;
        loop {
            let connection = self.ensure_connected(&mut slot).await?;
            let version = connection.negotiate_within::<R>(client)?;
            match connection.send(build(version), version).await {
                Ok(response) => return Ok((response, version)),
                Err(e) if e.breaks_connection() => {
                    tracing::debug!(addr = connection.addr(), error = %e, "dropping connection");
                    *slot = None;
                    if retry == Retry::Never || retried {
                        return Err(e);
                    }
                    retried = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the connected broker serves `key` at a version within `client`.
    async fn serves(
        &self,
        key: kafka_protocol::messages::ApiKey,
        client: VersionRange,
    ) -> Result<bool, ClientError> {
        let mut slot = self.inner.connection.lock().await;
        let connection = self.ensure_connected(&mut slot).await?;
        Ok(connection
            .broker_versions(key)
            .is_some_and(|theirs| !theirs.intersect(&client).is_empty()))
    }

    async fn ensure_connected<'a>(
        &self,
        slot: &'a mut Option<Connection>,
    ) -> Result<&'a mut Connection, ClientError> {
        if slot.is_none() {
            *slot = Some(self.open().await?);
        }
        slot.as_mut().ok_or(ClientError::NoBrokers)
    }

    /// Opens a connection to the first bootstrap address that answers ApiVersions.
    async fn open(&self) -> Result<Connection, ClientError> {
        for addr in &self.inner.bootstrap {
            match Connection::connect(addr, &self.inner.config).await {
                Ok(connection) => return Ok(connection),
                // A broker that answers but speaks no common ApiVersions, refuses our
                // credentials or our TLS will not do better on a second try, nor will the
                // others (same settings); the reason is worth more than "no brokers".
                Err(
                    e @ (ClientError::Kafka { .. }
                    | ClientError::Authentication(_)
                    | ClientError::Tls(_)),
                ) => return Err(e),
                Err(e) => tracing::warn!(%addr, error = %e, "bootstrap broker unreachable"),
            }
        }
        Err(ClientError::NoBrokers)
    }
}

/// Splits `host:port[,host:port]`, refusing entries without a numeric port.
fn parse_bootstrap(bootstrap: &str) -> Result<Vec<String>, ClientError> {
    let addrs: Vec<String> = bootstrap
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if addrs.is_empty() {
        return Err(ClientError::Protocol(format!(
            "bootstrap list {bootstrap:?} names no broker"
        )));
    }
    for addr in &addrs {
        let valid = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(ClientError::Protocol(format!(
                "bootstrap address {addr:?} is not host:port"
            )));
        }
    }
    Ok(addrs)
}

/// The whole range a message type supports, with the lower end raised to `min`.
fn from_version(min: i16, versions: VersionRange) -> VersionRange {
    VersionRange {
        min: min.max(versions.min),
        max: versions.max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_lists_are_split_and_trimmed() {
        assert_eq!(
            parse_bootstrap("a:9092, b.example:19092,,[::1]:9092").unwrap(),
            vec!["a:9092", "b.example:19092", "[::1]:9092"]
        );
    }

    #[test]
    fn bootstrap_entries_need_host_and_port() {
        for bad in ["", " , ", "broker", "broker:", ":9092", "broker:http"] {
            assert!(
                matches!(parse_bootstrap(bad), Err(ClientError::Protocol(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[tokio::test]
    async fn unreachable_bootstrap_lists_report_no_brokers() {
        // Bind then drop a listener so the port is (very likely) closed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = AdminClient::connect(&addr.to_string()).await.unwrap_err();
        assert!(matches!(err, ClientError::NoBrokers), "{err:?}");
    }
}
