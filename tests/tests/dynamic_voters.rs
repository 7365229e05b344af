//! Dynamic voters (KIP-853) with real processes: a one-voter data directory grows by
//! AddRaftVoter to nodes started with `controller.quorum.bootstrap.servers`, and a
//! voter is removed, while topics are being created.

use fjord_tests::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DescribeQuorumRequest,
    DescribeQuorumResponse, RemoveRaftVoterRequest, RemoveRaftVoterResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::time::Duration;

const QUORUM_WAIT: Duration = Duration::from_secs(30);
const DUPLICATE_VOTER: i16 = 126;
const VOTER_NOT_FOUND: i16 = 127;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn node(id: i32, controller_port: u16, join: Option<u16>) -> Broker {
    let id = id.to_string();
    let listeners = format!("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{controller_port}");
    let election = ELECTION_TIMEOUT_MS.to_string();
    let bootstrap = join.map(|p| format!("127.0.0.1:{p}"));
    let mut settings = vec![
        ("node.id", id.as_str()),
        ("listeners", listeners.as_str()),
        ("controller.quorum.election.timeout.ms", election.as_str()),
        ("controller.quorum.fetch.timeout.ms", "1000"),
        ("broker.heartbeat.interval.ms", "300"),
        ("offsets.topic.num.partitions", "3"),
    ];
    if let Some(b) = &bootstrap {
        settings.push(("controller.quorum.bootstrap.servers", b.as_str()));
    }
    Broker::launch_with(&settings)
}

fn remove_voter(bootstrap: &str, id: i32) -> (i16, Option<String>) {
    let mut conn = RawConn::connect(bootstrap);
    let r: RemoveRaftVoterResponse = conn.request(
        ApiKey::RemoveRaftVoter,
        0,
        &RemoveRaftVoterRequest::default().with_voter_id(id),
    );
    (r.error_code, r.error_message.map(|m| m.to_string()))
}

fn voters(bootstrap: &str) -> Option<BTreeSet<i32>> {
    let mut conn = RawConn::connect(bootstrap);
    let r: DescribeQuorumResponse = conn.request(
        ApiKey::DescribeQuorum,
        2,
        &DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(s("__cluster_metadata")))
            .with_partitions(vec![PartitionData::default()])]),
    );
    let p = r.topics.first()?.partitions.first()?;
    (p.error_code == 0).then(|| p.current_voters.iter().map(|v| v.replica_id.0).collect())
}

fn ok((code, message): (i16, Option<String>)) {
    assert_eq!(code, 0, "{message:?}");
}

fn create(bootstrap: &str, topic: &str) -> (i16, Option<String>) {
    let mut conn = RawConn::connect(bootstrap);
    let r: CreateTopicsResponse = conn.request(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(s(topic)))
                .with_num_partitions(1)
                .with_replication_factor(1)]),
    );
    let t = &r.topics[0];
    (
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
    )
}

#[test]
fn a_one_voter_cluster_grows_by_add_raft_voter_and_shrinks_while_topics_are_created() {
    let ports = free_ports(3);
    let mut first = node(0, ports[0], None);
    first.wait_ready();
    let b0 = first.bootstrap.clone();
    assert_eq!(create(&b0, "before").0, 0);
    assert_eq!(voters(&b0), Some(BTreeSet::from([0])));

    // Joiners wait, formatting nothing, until the leader adds them.
    let mut second = node(1, ports[1], Some(ports[0]));
    let mut third = node(2, ports[2], Some(ports[0]));
    ok(add_voter(&b0, 1, ports[1]));
    second.wait_ready();
    assert_eq!(voters(&b0), Some(BTreeSet::from([0, 1])));
    assert_eq!(add_voter(&b0, 1, ports[1]).0, DUPLICATE_VOTER);
    assert_eq!(remove_voter(&b0, 7).0, VOTER_NOT_FOUND);

    // Topics keep being created (through the first node) while voters change.
    let creator = {
        let b0 = b0.clone();
        std::thread::spawn(move || {
            for i in 0..10 {
                let (code, message) = create(&b0, &format!("during-{i}"));
                assert_eq!(code, 0, "during-{i}: {message:?}");
            }
        })
    };
    ok(add_voter(&second.bootstrap, 2, ports[2]));
    third.wait_ready();
    ok(remove_voter(&third.bootstrap, 1));
    creator.join().expect("topics created while voters changed");
    wait_until(QUORUM_WAIT, "voters 0 and 2", || {
        voters(&third.bootstrap) == Some(BTreeSet::from([0, 2]))
    });

    // The grown membership lives in the log: after a restart the first node still
    // counts node 2 as a voter, and the removed node is gone.
    first.restart();
    wait_until(QUORUM_WAIT, "voters 0 and 2 after a restart", || {
        voters(&first.bootstrap) == Some(BTreeSet::from([0, 2]))
    });
    let mut names = vec!["before".to_string()];
    names.extend((0..10).map(|i| format!("during-{i}")));
    for name in names {
        wait_until(QUORUM_WAIT, &format!("node 2 knows {name}"), || {
            create(&third.bootstrap, &name).0 == 36
        });
    }
}
