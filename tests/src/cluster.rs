//! [`Cluster`]: N `fjord-broker` processes on 127.0.0.1 forming one metadata quorum
//! (every node `broker,controller`), with short timeouts so elections and fencing
//! happen within a test.

use crate::{wait_until, Broker, RawConn};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, CreateTopicsResponse, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::Duration;

/// How long replication tests wait for forming, fencing, electing and catching up.
pub const REPLICATION_WAIT: Duration = Duration::from_secs(60);

/// A partition as Metadata reports it: (leader, leader epoch, ISR).
pub type PartitionState = (i32, i32, BTreeSet<i32>);

fn topic_name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

/// Creates `topic` with one partition on `replicas` (in that order: the first is the
/// preferred leader) or, when empty, `rf` replicas placed by the controller.
pub fn create_replicated(bootstrap: &str, topic: &str, rf: i16, replicas: &[i32]) {
    let mut t = CreatableTopic::default().with_name(topic_name(topic));
    t = if replicas.is_empty() {
        t.with_num_partitions(1).with_replication_factor(rf)
    } else {
        t.with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(replicas.iter().map(|&b| BrokerId(b)).collect())])
    };
    let mut conn = RawConn::connect(bootstrap);
    let resp: CreateTopicsResponse = conn.request(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![t]),
    );
    let r = &resp.topics[0];
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
}

/// Metadata v12 for `topic` alone from `bootstrap` (no auto-creation).
pub fn topic_metadata(bootstrap: &str, topic: &str) -> MetadataResponse {
    let mut conn = RawConn::connect(bootstrap);
    conn.request(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default()
            .with_allow_auto_topic_creation(false)
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(topic)))
            ])),
    )
}

/// Partition 0 of `topic` as `bootstrap` reports it.
pub fn partition_state(bootstrap: &str, topic: &str) -> Option<PartitionState> {
    let resp = topic_metadata(bootstrap, topic);
    let p = resp.topics.first()?.partitions.first()?;
    Some((
        p.leader_id.0,
        p.leader_epoch,
        p.isr_nodes.iter().map(|b| b.0).collect(),
    ))
}

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
                .with_name(topic_name(topic))
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
    topic_metadata(bootstrap, topic)
        .topics
        .into_iter()
        .next()
        .filter(|t| t.error_code == 0)
}

impl Cluster {
    /// Starts `n` nodes and waits until every one is ready, with `extra` settings on all.
    pub fn start_with(n: usize, extra: &[(&str, &str)]) -> Cluster {
        Cluster::start_each(n, extra, |_| Vec::new())
    }

    /// As [`Cluster::start_with`], plus settings of node `i`'s own from `each(i)`.
    pub fn start_each(
        n: usize,
        extra: &[(&str, &str)],
        each: impl Fn(usize) -> Vec<(String, String)>,
    ) -> Cluster {
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
                let own = each(i);
                settings.extend(own.iter().map(|(k, v)| (k.as_str(), v.as_str())));
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

    /// Waits until node `node` reports partition 0 of `topic` in a state `ok` accepts, and
    /// returns that state.
    pub fn wait_for_partition(
        &self,
        node: usize,
        topic: &str,
        what: &str,
        mut ok: impl FnMut(i32, i32, &BTreeSet<i32>) -> bool,
    ) -> PartitionState {
        let mut last = None;
        wait_until(REPLICATION_WAIT, what, || {
            last = partition_state(&self.nodes[node].bootstrap, topic);
            last.as_ref().is_some_and(|(l, e, isr)| ok(*l, *e, isr))
        });
        last.unwrap_or_default()
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
