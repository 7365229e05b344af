//! Requests that must reach one particular broker: a partition's leader (Produce, Fetch,
//! ListOffsets) or a group's coordinator (group APIs).
//!
//! Each such broker gets its own connection, opened on first use and kept for later calls. The
//! bootstrap connection is left alone so admin calls never queue behind a long Fetch.

use std::collections::BTreeMap;

use kafka_protocol::protocol::{Request, VersionRange};

use super::{AdminClient, Retry};
use crate::codes::code;
use crate::connection::Connection;
use crate::ClientError;

impl AdminClient {
    /// Like `call`, but to the broker at `addr` (`host:port`).
    pub(super) async fn call_at<R: Request>(
        &self,
        addr: &str,
        client: VersionRange,
        retry: Retry,
        build: impl Fn(i16) -> R,
    ) -> Result<(R::Response, i16), ClientError> {
        let mut nodes = self.inner.nodes.lock().await;
        let mut retried = false;
        loop {
            if !nodes.contains_key(addr) {
                let connection = Connection::connect(addr, &self.inner.config).await?;
                nodes.insert(addr.to_owned(), connection);
            }
            let connection = nodes
                .get_mut(addr)
                .ok_or_else(|| ClientError::Protocol(format!("no connection to {addr}")))?;
            let version = connection.negotiate_within::<R>(client)?;
            match connection.send(build(version), version).await {
                Ok(response) => return Ok((response, version)),
                Err(e) if e.breaks_connection() => {
                    tracing::debug!(%addr, error = %e, "dropping connection");
                    nodes.remove(addr);
                    if retry == Retry::Never || retried {
                        return Err(e);
                    }
                    retried = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `host:port` of every broker the cluster lists, by node id.
    pub async fn broker_addresses(&self) -> Result<BTreeMap<i32, String>, ClientError> {
        let cluster = self.describe_cluster().await?;
        Ok(cluster
            .brokers
            .iter()
            .map(|b| (b.node_id, format!("{}:{}", b.host, b.port)))
            .collect())
    }

    /// Every partition of `topic` with its leader's address (`None` while it has no leader).
    /// UNKNOWN_TOPIC_OR_PARTITION when the topic does not exist.
    pub(super) async fn leader_addresses(
        &self,
        topic: &str,
    ) -> Result<BTreeMap<i32, Option<String>>, ClientError> {
        let Some(info) = self.describe_topic(topic).await? else {
            return Err(kafka_error(
                "Metadata",
                code::UNKNOWN_TOPIC_OR_PARTITION,
                &format!("topic {topic:?} does not exist"),
            ));
        };
        let brokers = self.broker_addresses().await?;
        Ok(info
            .partitions
            .iter()
            .map(|p| (p.partition, brokers.get(&p.leader).cloned()))
            .collect())
    }

    /// The leader address of one partition, or the Kafka error a client would see.
    pub(super) async fn leader_address(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<String, ClientError> {
        match self.leader_addresses(topic).await?.remove(&partition) {
            Some(Some(addr)) => Ok(addr),
            Some(None) => Err(kafka_error(
                "Metadata",
                code::LEADER_NOT_AVAILABLE,
                &format!("{topic}-{partition} has no leader"),
            )),
            None => Err(kafka_error(
                "Metadata",
                code::UNKNOWN_TOPIC_OR_PARTITION,
                &format!("topic {topic:?} has no partition {partition}"),
            )),
        }
    }
}

/// A Kafka error for a condition the client read from a response (e.g. a missing partition).
pub(super) fn kafka_error(api: &'static str, code: i16, message: &str) -> ClientError {
    ClientError::Kafka {
        api,
        code,
        name: crate::codes::error_name(code),
        message: Some(message.to_owned()),
    }
}
