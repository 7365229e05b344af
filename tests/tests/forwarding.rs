//! A command forwarded to the active controller whose answer is lost on the way back
//! is retried by the forwarding broker; the retry must be answered with the first
//! attempt's result, not a refusal caused by its own success.
//!
//! Every voter is reached through a proxy on the controller listener that passes Raft
//! traffic through and, once, closes the connection instead of delivering the answer
//! to a forwarded CreateTopics for the topic under test.

use fjord_tests::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const QUORUM_WAIT: Duration = Duration::from_secs(30);
const TOPIC: &str = "retried-after-a-lost-answer";

fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    s.read_exact(&mut prefix)?;
    let len = u32::from_be_bytes(prefix) as usize;
    assert!(len <= 16 << 20, "frame of {len} bytes");
    let mut frame = prefix.to_vec();
    frame.resize(4 + len, 0);
    s.read_exact(&mut frame[4..])?;
    Ok(frame)
}

/// Proxies `listener` to `upstream`, one request and answer at a time per connection
/// (the controller protocol's shape), dropping one answer as described above.
fn proxy(listener: TcpListener, upstream: u16, dropped: Arc<AtomicBool>) {
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let dropped = dropped.clone();
            thread::spawn(move || {
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                while let Ok(request) = read_frame(&mut client) {
                    let text = String::from_utf8_lossy(&request);
                    let lose_answer = text.contains("CreateTopic")
                        && text.contains(TOPIC)
                        && !dropped.swap(true, Ordering::SeqCst);
                    if server.write_all(&request).is_err() {
                        return;
                    }
                    let Ok(answer) = read_frame(&mut server) else {
                        return;
                    };
                    if lose_answer {
                        let _ = client.shutdown(Shutdown::Both);
                        return;
                    }
                    if client.write_all(&answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

#[test]
fn a_forwarded_create_retried_after_its_answer_was_lost_succeeds_once() {
    let n = 3;
    let controller_ports = free_ports(n);
    let dropped = Arc::new(AtomicBool::new(false));
    let mut proxy_ports = Vec::new();
    for port in &controller_ports {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a proxy");
        proxy_ports.push(l.local_addr().expect("addr").port());
        proxy(l, *port, dropped.clone());
    }
    let voters = quorum_voters(&proxy_ports);
    let election = ELECTION_TIMEOUT_MS.to_string();
    let mut nodes: Vec<Broker> = controller_ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let id = i.to_string();
            let listeners = format!("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}");
            Broker::launch_with(&[
                ("node.id", &id),
                ("listeners", &listeners),
                ("controller.quorum.voters", &voters),
                ("controller.quorum.election.timeout.ms", &election),
                ("controller.quorum.fetch.timeout.ms", "1000"),
                ("broker.heartbeat.interval.ms", "300"),
                ("offsets.topic.num.partitions", "3"),
            ])
        })
        .collect();
    for node in &mut nodes {
        node.wait_ready();
    }
    let cluster = Cluster {
        nodes,
        controller_ports,
    };
    let controller = cluster.wait_for_controller(0, QUORUM_WAIT);
    let other = (0..n)
        .find(|i| *i as i32 != controller)
        .expect("a follower");
    cluster.wait_for_brokers(other, &[0, 1, 2], QUORUM_WAIT);

    let mut conn = RawConn::connect(&cluster.nodes[other].bootstrap);
    let resp: CreateTopicsResponse = conn.request(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(TOPIC.to_string())))
                .with_num_partitions(2)
                .with_replication_factor(1)]),
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the proxy lost the first answer"
    );
    let t = &resp.topics[0];
    assert_eq!(
        (t.error_code, t.num_partitions),
        (0, 2),
        "{:?}",
        t.error_message
    );
}
