//! Fetch from followers (KIP-392, issue 11): with `replica.selector.class` set to Kafka's
//! rack-aware selector and a rack per broker, a consumer with `client.rack` is sent by the
//! leader to the in-sync follower in its rack and reads everything there; a consumer without
//! a rack, or in the leader's rack, reads from the leader.

use fjord_tests::*;
use std::time::Duration;

const WAIT: Duration = REPLICATION_WAIT;
const TOPIC: &str = "racked";

/// The bytes broker `node` has served to fetches of `TOPIC` (0 if it served none).
fn bytes_out(cluster: &Cluster, node: usize) -> f64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&cluster.nodes[node].metrics_addr).expect("metrics");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read metrics");
    let name = format!("fjord_bytes_out_total{{topic=\"{TOPIC}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&name))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

/// Consumes the whole topic with an assigned consumer in `rack` (none: no `client.rack`).
fn consume_from(bootstrap: &str, rack: Option<&str>, expected: usize) -> Vec<Consumed> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let mut cfg = consumer_config(bootstrap);
    if let Some(rack) = rack {
        cfg.set("client.rack", rack);
    }
    let consumer: BaseConsumer = cfg.create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("assign");
    consumer.assign(&tpl).expect("assign");
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while got.len() < expected && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            got.push(Consumed {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().map(<[u8]>::to_vec),
                timestamp: m.timestamp().to_millis(),
                headers: Vec::new(),
            });
        }
    }
    got
}

#[test]
fn a_consumer_reads_from_the_in_sync_follower_in_its_rack() {
    let cluster = Cluster::start_each(
        3,
        &[(
            "replica.selector.class",
            "org.apache.kafka.common.replica.RackAwareReplicaSelector",
        )],
        |i| vec![("broker.rack".to_string(), format!("zone-{i}"))],
    );
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    create_replicated(&cluster.nodes[0].bootstrap, TOPIC, 3, &[]);
    let (leader, _, _) = cluster.wait_for_partition(0, TOPIC, "all three in sync", |l, _, isr| {
        l >= 0 && isr.len() == 3
    });
    let leader = leader as usize;
    let follower = (leader + 1) % 3;
    let bootstrap = cluster.nodes[leader].bootstrap.clone();
    let msgs = numbered_messages(TOPIC, 200, 1);
    let acked = produce_ok(&producer_config(&bootstrap, "none"), TOPIC, &msgs);
    assert_eq!(acked.len(), 200);

    // No rack: the leader serves it all.
    let got = consume_from(&bootstrap, None, 200);
    assert_eq!(got.len(), 200);
    assert_eq!(bytes_out(&cluster, follower), 0.0);
    let from_leader = bytes_out(&cluster, leader);
    assert!(from_leader > 0.0);

    // In the follower's zone: the leader names the follower, which serves the records, all
    // of them, in order, at their offsets.
    let got = consume_from(&bootstrap, Some(&format!("zone-{follower}")), 200);
    let offsets: Vec<i64> = got.iter().map(|c| c.offset).collect();
    assert_eq!(offsets, (0..200).collect::<Vec<i64>>());
    for (c, m) in got.iter().zip(&msgs) {
        assert_eq!(c.payload.as_deref(), Some(&m.payload[..]));
    }
    assert!(
        bytes_out(&cluster, follower) > 0.0,
        "the follower in the consumer's rack served it"
    );
    let leader_then = bytes_out(&cluster, leader);

    // In the leader's zone: the leader keeps serving; the other follower serves nothing.
    let got = consume_from(&bootstrap, Some(&format!("zone-{leader}")), 200);
    assert_eq!(got.len(), 200);
    assert!(bytes_out(&cluster, leader) > leader_then);
    assert_eq!(bytes_out(&cluster, (leader + 2) % 3), 0.0);
}
