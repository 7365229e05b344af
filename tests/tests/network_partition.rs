//! A partition leader cut off from its peers by the network (issue 11), with real broker
//! processes behind TCP proxies the test controls ([`fjord_tests::netsplit`]): while cut off
//! it cannot acknowledge an `acks=all` write, though it appends it; the majority fences it,
//! elects another in-sync replica and takes writes; once the network heals the old leader
//! truncates the tail it alone had, catches up, rejoins the ISR and leads again (preferred
//! leader), and every acknowledged record is read back from it at its offset, exactly once.

use fjord_tests::netsplit::{Listener, Network};
use fjord_tests::*;
use std::time::Duration;

const WAIT: Duration = REPLICATION_WAIT;
const TOPIC: &str = "split";

/// The value of `fjord_log_end_offset` of partition 0 of `topic` on a node (-1: none yet).
fn log_end(metrics_addr: &str, topic: &str) -> f64 {
    let want = format!("fjord_log_end_offset{{topic=\"{topic}\",partition=\"0\"}} ");
    (metrics_text(metrics_addr).lines())
        .find_map(|l| l.strip_prefix(&want))
        .map_or(-1.0, |v| v.trim().parse().expect("a number"))
}

fn idempotent(bootstrap: &str) -> rdkafka::ClientConfig {
    let mut cfg = producer_config(bootstrap, "none");
    cfg.set("enable.idempotence", "true");
    cfg
}

#[test]
fn an_isolated_leader_acknowledges_nothing_and_drops_its_divergent_tail_on_healing() {
    let n = 3;
    let net = Network::new();
    let ports = free_ports(2 * n);
    let (kafka, controller) = ports.split_at(n);
    let kafka_proxy: Vec<u16> = (0..n)
        .map(|i| net.proxy(i as i32, Listener::Kafka, kafka[i]))
        .collect();
    let controller_proxy: Vec<u16> = (0..n)
        .map(|i| net.proxy(i as i32, Listener::Controller, controller[i]))
        .collect();
    let voters: Vec<String> = (controller_proxy.iter().enumerate())
        .map(|(i, p)| format!("{i}@127.0.0.1:{p}"))
        .collect();
    let voters = voters.join(",");
    let cluster = Cluster::start_each(
        n,
        &[
            ("min.insync.replicas", "2"),
            ("replica.lag.time.max.ms", "1500"),
            ("auto.leader.rebalance.enable", "true"),
            ("leader.imbalance.check.interval.seconds", "1"),
        ],
        |i| {
            vec![
                (
                    "listeners".into(),
                    format!(
                        "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                        kafka[i], controller[i]
                    ),
                ),
                (
                    "advertised.listeners".into(),
                    format!("PLAINTEXT://127.0.0.1:{}", kafka_proxy[i]),
                ),
                ("controller.quorum.voters".into(), voters.clone()),
            ]
        },
    );
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    // The leader to cut off is not the active controller, so the quorum keeps its leader.
    let active = cluster.wait_for_controller(0, WAIT) as usize;
    let l = (active + 1) % n;
    let (a, b) = ((l + 1) % n, (l + 2) % n);
    create_replicated(
        &cluster.nodes[0].bootstrap,
        TOPIC,
        3,
        &[l as i32, a as i32, b as i32],
    );
    let (_, epoch, _) =
        cluster.wait_for_partition(a, TOPIC, "led by l, all in sync", |ld, _, isr| {
            ld == l as i32 && isr.len() == 3
        });
    let msgs = numbered_messages(TOPIC, 300, 1);
    let all = cluster.nodes.iter().map(|n| n.bootstrap.clone());
    let all = all.collect::<Vec<_>>().join(",");
    let mut acked = produce_all(&idempotent(&all), TOPIC, &msgs[..100]);
    assert!(acked.iter().all(|d| d.result.is_ok()), "before the cut");

    net.isolate(l as i32);
    // A client still reaches the isolated leader, which appends but cannot acknowledge.
    let mut lone = producer_config(&cluster.nodes[l].bootstrap, "none");
    lone.set("acks", "all")
        .set("message.timeout.ms", "4000")
        .set("request.timeout.ms", "3000")
        .set("retries", "0");
    let divergent = numbered_messages("divergent", 5, 1);
    let refused = produce_all(&lone, TOPIC, &divergent);
    assert!(
        refused.iter().all(|d| d.result.is_err()),
        "the isolated leader acknowledged: {refused:?}"
    );
    assert!(
        log_end(&cluster.nodes[l].metrics_addr, TOPIC) > 100.0,
        "the isolated leader appended the writes it could not acknowledge"
    );

    // The majority fences it and elects another in-sync replica, which takes writes.
    let majority = format!(
        "{},{}",
        cluster.nodes[a].bootstrap, cluster.nodes[b].bootstrap
    );
    let (new_leader, _, isr) =
        cluster.wait_for_partition(a, TOPIC, "another replica leads", |ld, e, _| {
            ld >= 0 && ld != l as i32 && e > epoch
        });
    assert!(
        !isr.contains(&(l as i32)),
        "the cut-off leader left the ISR"
    );
    let mut after = produce_all(&idempotent(&majority), TOPIC, &msgs[100..300]);
    assert!(
        after.iter().all(|d| d.result.is_ok()),
        "the new leader {new_leader} takes acks=all writes"
    );
    for d in &mut after {
        d.seq += 100;
    }
    acked.extend(after);

    // Healed: the old leader truncates, catches up, rejoins and, preferred, leads again.
    net.heal();
    cluster.wait_for_partition(a, TOPIC, "the old leader leads again", |ld, _, isr| {
        ld == l as i32 && isr.len() == 3
    });
    let from_l = consume_all(&cluster.nodes[l].bootstrap, TOPIC);
    let payloads: Vec<&[u8]> = from_l[&0]
        .iter()
        .filter_map(|r| r.payload.as_deref())
        .collect();
    for d in &divergent {
        assert!(
            !payloads.contains(&&d.payload[..]),
            "the divergent tail is gone"
        );
    }
    assert_acked_records_kept(&cluster.nodes[l].bootstrap, TOPIC, &msgs, &acked);
}
