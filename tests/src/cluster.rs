//! [`Cluster`]: N `fjord-broker` processes on 127.0.0.1 forming one metadata quorum
//! (every node `broker,controller`), with short timeouts so elections and fencing
//! happen within a test.

use crate::{wait_until, Broker, RawConn};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::net::TcpListener;
use std::time::Duration;

/// Election timeout of test clusters (ms).
pub const ELECTION_TIMEOUT_MS: u64 = 300;
/// Broker session timeout of test clusters (ms).
pub const SESSION_TIMEOUT_MS: u64 = 2000;

/// A cluster of brokers that are all voters. Node `i` has `node.id=i`.
pub struct Cluster {
    pub nodes: Vec<Broker>,
    /// The controller listener port of each node (fixed: it is in every node's voters).
    pub controller_ports: Vec<u16>,
}

/// Free TCP ports on 127.0.0.1, picked by binding port 0 and letting go.
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// CreateTopics sent to exactly this broker (no client-side routing to the controller):
/// the topic's error code and message.
pub fn create_topic_on(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
) -> (i16, Option<String>) {
    let mut conn = RawConn::connect(bootstrap);
    let resp: CreateTopicsResponse = conn.request(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)]),
    );
    let r = &resp.topics[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// `topic` as exactly this broker reports it in Metadata (no auto-creation); `None` when it
/// answers an error for the topic.
pub fn topic_metadata_on(bootstrap: &str, topic: &str) -> Option<MetadataResponseTopic> {
    let mut conn = RawConn::connect(bootstrap);
    let resp: MetadataResponse = conn.request(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default()
            .with_allow_auto_topic_creation(false)
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
                TopicName(StrBytes::from_string(topic.to_string())),
            ))])),
    );
    resp.topics.into_iter().next().filter(|t| t.error_code == 0)
}

impl Cluster {
    /// Starts `n` nodes and waits until every one is ready, with `extra` settings on all.
    pub fn start_with(n: usize, extra: &[(&str, &str)]) -> Cluster {
        let controller_ports = free_ports(n);
        let voters: Vec<String> = controller_ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{i}@127.0.0.1:{p}"))
            .collect();
        let voters = voters.join(",");
        let mut nodes: Vec<Broker> = controller_ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let id = i.to_string();
                let listeners = format!("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}");
                let election = ELECTION_TIMEOUT_MS.to_string();
                let session = SESSION_TIMEOUT_MS.to_string();
                let mut settings: Vec<(&str, &str)> = vec![
                    ("node.id", &id),
                    ("listeners", &listeners),
                    ("controller.quorum.voters", &voters),
                    ("controller.quorum.election.timeout.ms", &election),
                    ("controller.quorum.fetch.timeout.ms", "1000"),
                    ("broker.session.timeout.ms", &session),
                    ("broker.heartbeat.interval.ms", "300"),
                    ("offsets.topic.num.partitions", "3"),
                ];
                settings.extend_from_slice(extra);
                Broker::launch_with(&settings)
            })
            .collect();
        for node in &mut nodes {
            node.wait_ready();
        }
        Cluster {
            nodes,
            controller_ports,
        }
    }

    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[])
    }

    /// Bootstrap servers: every running node.
    pub fn bootstrap(&mut self) -> String {
        let mut out = Vec::new();
        for n in &mut self.nodes {
            if n.is_running() {
                out.push(n.bootstrap.clone());
            }
        }
        out.join(",")
    }

    /// The Metadata response (no topics) from node `i`.
    pub fn metadata(&self, i: usize) -> MetadataResponse {
        let mut conn = RawConn::connect(&self.nodes[i].bootstrap);
        conn.request(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(Vec::new())),
        )
    }

    /// The active controller's id as node `i` sees it (-1: none).
    pub fn controller_seen_by(&self, i: usize) -> i32 {
        self.metadata(i).controller_id.0
    }

    /// Waits until node `i` reports an active controller and returns its id.
    pub fn wait_for_controller(&self, i: usize, timeout: Duration) -> i32 {
        let mut id = -1;
        wait_until(timeout, "an active controller", || {
            id = self.controller_seen_by(i);
            id >= 0
        });
        id
    }

    /// Waits until node `i` lists exactly `ids` as live brokers.
    pub fn wait_for_brokers(&self, i: usize, ids: &[i32], timeout: Duration) {
        let mut want = ids.to_vec();
        want.sort_unstable();
        wait_until(timeout, &format!("node {i} lists brokers {want:?}"), || {
            let mut got: Vec<i32> = self
                .metadata(i)
                .brokers
                .iter()
                .map(|b| b.node_id.0)
                .collect();
            got.sort_unstable();
            got == want
        });
    }
}
