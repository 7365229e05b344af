//! Operating the metadata quorum with real processes: DescribeQuorum from any node,
//! before and after the leader dies.

use fjord_tests::*;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeQuorumRequest, DescribeQuorumResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::time::Duration;

const QUORUM_WAIT: Duration = Duration::from_secs(30);
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn describe_quorum_of(bootstrap: &str, version: i16, topic: &str) -> DescribeQuorumResponse {
    let mut conn = RawConn::connect(bootstrap);
    conn.request(
        ApiKey::DescribeQuorum,
        version,
        &DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]),
    )
}

fn describe_quorum(bootstrap: &str, version: i16) -> DescribeQuorumResponse {
    describe_quorum_of(bootstrap, version, "__cluster_metadata")
}

/// Waits until `bootstrap` answers DescribeQuorum without error and `ok` holds.
fn wait_quorum(
    bootstrap: &str,
    version: i16,
    what: &str,
    mut ok: impl FnMut(&DescribeQuorumResponse) -> bool,
) -> DescribeQuorumResponse {
    let mut last = None;
    wait_until(QUORUM_WAIT, what, || {
        let r = describe_quorum(bootstrap, version);
        let good = r.error_code == 0
            && r.topics.len() == 1
            && r.topics[0].partitions.len() == 1
            && r.topics[0].partitions[0].error_code == 0
            && ok(&r);
        last = Some(r);
        good
    });
    last.expect("a response")
}

fn voters(r: &DescribeQuorumResponse) -> BTreeSet<i32> {
    r.topics[0].partitions[0]
        .current_voters
        .iter()
        .map(|v| v.replica_id.0)
        .collect()
}

#[test]
fn describe_quorum_names_the_leader_and_voters_and_follows_a_new_leader_after_a_kill() {
    let mut cluster = Cluster::start(3);
    let controller = cluster.wait_for_controller(0, QUORUM_WAIT);

    // Advertised, and served at every advertised version from any node.
    let mut conn = RawConn::connect(&cluster.nodes[0].bootstrap);
    let versions: ApiVersionsResponse =
        conn.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let advertised = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::DescribeQuorum as i16)
        .map(|k| (k.min_version, k.max_version));
    assert_eq!(advertised, Some((0, 2)));
    for i in 0..3 {
        for version in 0..=2 {
            let r = wait_quorum(
                &cluster.nodes[i].bootstrap,
                version,
                "every voter replicated the log",
                |r| {
                    let p = &r.topics[0].partitions[0];
                    p.current_voters.iter().all(|v| v.log_end_offset > 0) && p.high_watermark > 0
                },
            );
            let p = &r.topics[0].partitions[0];
            assert_eq!(r.topics[0].topic_name.0.as_str(), "__cluster_metadata");
            assert_eq!(p.leader_id.0, controller, "node {i} v{version}");
            assert!(p.leader_epoch > 0);
            assert_eq!(voters(&r), BTreeSet::from([0, 1, 2]));
            assert!(p.observers.is_empty());
            let leader = p
                .current_voters
                .iter()
                .find(|v| v.replica_id.0 == controller)
                .expect("the leader is a voter");
            assert!(p.high_watermark <= leader.log_end_offset);
            if version >= 1 {
                assert!(p.current_voters.iter().all(|v| v.last_fetch_timestamp > 0));
                assert!(p
                    .current_voters
                    .iter()
                    .all(|v| v.last_caught_up_timestamp > 0));
            }
            if version >= 2 {
                let ports: BTreeSet<u16> = r
                    .nodes
                    .iter()
                    .flat_map(|n| n.listeners.iter().map(|l| l.port))
                    .collect();
                let want: BTreeSet<u16> = cluster.controller_ports.iter().copied().collect();
                assert_eq!(ports, want);
                assert!(r
                    .nodes
                    .iter()
                    .all(|n| n.listeners[0].name.as_str() == "CONTROLLER"));
            } else {
                assert!(r.nodes.is_empty());
            }
        }
    }
    let old_epoch =
        describe_quorum(&cluster.nodes[0].bootstrap, 2).topics[0].partitions[0].leader_epoch;

    // Only the metadata partition exists.
    let r = describe_quorum_of(&cluster.nodes[0].bootstrap, 2, "other");
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    cluster.nodes[controller as usize].kill9();
    let survivor = (0..3)
        .find(|i| *i != controller as usize)
        .expect("a survivor");
    let r = wait_quorum(&cluster.nodes[survivor].bootstrap, 2, "a new leader", |r| {
        let p = &r.topics[0].partitions[0];
        p.leader_id.0 != controller && p.leader_id.0 >= 0
    });
    let p = &r.topics[0].partitions[0];
    assert!(
        p.leader_epoch > old_epoch,
        "{} > {old_epoch}",
        p.leader_epoch
    );
    assert_eq!(
        voters(&r),
        BTreeSet::from([0, 1, 2]),
        "the dead voter is still a voter"
    );
    let dead = p
        .current_voters
        .iter()
        .find(|v| v.replica_id.0 == controller)
        .expect("the dead voter");
    assert_eq!(
        dead.last_fetch_timestamp, -1,
        "never answered the new leader"
    );
}

#[test]
fn a_single_node_describes_itself_as_the_only_voter_and_leader() {
    let broker = Broker::start();
    let r = wait_quorum(&broker.bootstrap, 2, "a leader", |r| {
        r.topics[0].partitions[0].leader_id.0 >= 0
    });
    let p = &r.topics[0].partitions[0];
    assert_eq!(voters(&r).len(), 1);
    assert_eq!(p.current_voters[0].replica_id, p.leader_id);
    assert_eq!(p.high_watermark, p.current_voters[0].log_end_offset);
    assert!(p.high_watermark > 0);
}
