//! Partition replication with real broker processes (issue 11): followers fetch from the
//! leader, `acks=all` waits for the in-sync replicas, a killed leader's partitions move to
//! another in-sync replica without losing an acknowledged record, a paused follower leaves the
//! ISR and rejoins once resumed, with two of three replicas paused nothing is acknowledged, and
//! a returning old leader cuts its log where it diverges from the new leader's (KIP-101), and
//! replication throttles (KIP-73) slow an out-of-sync replica's catch-up, not the ISR.

use fjord_tests::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rdkafka::producer::Producer;
use std::collections::BTreeSet;
use std::time::Duration;

/// Forming, fencing, electing and catching up take a few timeouts; allow slow machines.
const WAIT: Duration = REPLICATION_WAIT;

/// Short replication timeouts so shrinking and failover happen within a test.
const SETTINGS: &[(&str, &str)] = &[
    ("min.insync.replicas", "2"),
    ("replica.lag.time.max.ms", "1500"),
];

fn create_rf3(bootstrap: &str, topic: &str) {
    create_replicated(bootstrap, topic, 3, &[]);
}

fn wait_for(
    cluster: &Cluster,
    node: usize,
    topic: &str,
    what: &str,
    ok: impl FnMut(i32, i32, &BTreeSet<i32>) -> bool,
) -> PartitionState {
    cluster.wait_for_partition(node, topic, what, ok)
}

fn idempotent(bootstrap: &str) -> rdkafka::ClientConfig {
    let mut cfg = producer_config(bootstrap, "none");
    cfg.set("enable.idempotence", "true");
    cfg
}

fn signal(node: &Broker, sig: Signal) {
    let pid = node.pid().expect("running broker") as i32;
    kill(Pid::from_raw(pid), sig).expect("signal the broker");
}

#[test]
fn acks_all_records_survive_a_kill9_of_the_leader_and_the_producer_resumes() {
    let mut cluster = Cluster::start_with(3, SETTINGS);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    create_rf3(&cluster.nodes[0].bootstrap, "kill");
    let (leader, epoch, _) = wait_for(&cluster, 0, "kill", "all three in sync", |l, _, isr| {
        l >= 0 && isr.len() == 3
    });
    let msgs = numbered_messages("kill", 600, 1);
    let (producer, collector) = collecting_producer(&idempotent(&cluster.bootstrap()));
    for (i, m) in msgs.iter().enumerate().take(200) {
        send(&producer, "kill", i, m);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    assert_eq!(collector.acked(), 200, "acknowledged before the kill");
    // Kill the leader with records in flight; the rest go to the new leader.
    for (i, m) in msgs.iter().enumerate().skip(200).take(200) {
        send(&producer, "kill", i, m);
    }
    cluster.nodes[leader as usize].kill9();
    let survivor = (leader as usize + 1) % 3;
    let (new_leader, new_epoch, isr) = wait_for(
        &cluster,
        survivor,
        "kill",
        "another in-sync replica leads",
        |l, e, _| l >= 0 && l != leader && e > epoch,
    );
    assert!(new_epoch > epoch, "a new leader epoch");
    assert!(isr.contains(&new_leader), "elected from the ISR: {isr:?}");
    assert!(!isr.contains(&leader), "the dead leader left the ISR");
    for (i, m) in msgs.iter().enumerate().skip(400) {
        send(&producer, "kill", i, m);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    wait_until(WAIT, "every delivery report", || collector.count() == 600);
    let reports = collector.reports();
    let resumed = reports
        .iter()
        .filter(|d| d.seq >= 400 && d.result.is_ok())
        .count();
    assert_eq!(resumed, 200, "the producer resumed on the new leader");
    let bootstrap = cluster.bootstrap();
    assert_acked_records_kept(&bootstrap, "kill", &msgs, &reports);
}

#[test]
fn a_paused_follower_leaves_the_isr_and_rejoins_and_two_paused_refuse_acks_all() {
    let cluster = Cluster::start_with(3, SETTINGS);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    create_rf3(&cluster.nodes[0].bootstrap, "pause");
    let (leader, _, _) = wait_for(&cluster, 0, "pause", "all three in sync", |l, _, isr| {
        l >= 0 && isr.len() == 3
    });
    let l = leader as usize;
    let (a, b) = ((l + 1) % 3, (l + 2) % 3);
    let msgs = numbered_messages("pause", 90, 1);
    let bootstrap = cluster.nodes[l].bootstrap.clone();
    let mut reports = produce_all(&idempotent(&bootstrap), "pause", &msgs[..30]);

    signal(&cluster.nodes[a], Signal::SIGSTOP);
    let mut more = produce_all(&idempotent(&bootstrap), "pause", &msgs[30..60]);
    assert!(
        more.iter().all(|d| d.result.is_ok()),
        "acks=all continues with one follower paused"
    );
    wait_for(
        &cluster,
        l,
        "pause",
        "the paused follower left the ISR",
        |_, _, isr| !isr.contains(&(a as i32)) && isr.len() == 2,
    );
    // The leader counts the shrink and the partition as under-replicated; the other
    // brokers do not (Kafka's per-leader meaning, so the sum over brokers is the cluster's).
    // The leader's replication state learns the committed shrink from the metadata log a
    // moment after Metadata shows it: wait for the gauges, do not read them once.
    let metrics = &cluster.nodes[l].metrics_addr;
    wait_until(WAIT, "the leader counts the shrink", || {
        gauge(metrics, "fjord_isr_shrinks_total") >= 1.0
            && gauge(metrics, "fjord_under_replicated_partitions") == 1.0
    });
    assert_eq!(gauge(metrics, "fjord_under_min_isr_partitions"), 0.0);
    assert_eq!(
        gauge(
            &cluster.nodes[b].metrics_addr,
            "fjord_under_replicated_partitions"
        ),
        0.0
    );
    signal(&cluster.nodes[a], Signal::SIGCONT);
    wait_for(
        &cluster,
        l,
        "pause",
        "the resumed follower rejoined",
        |_, _, isr| isr.len() == 3,
    );
    wait_until(WAIT, "the leader counts the expansion", || {
        gauge(metrics, "fjord_isr_expands_total") >= 1.0
            && gauge(metrics, "fjord_under_replicated_partitions") == 0.0
    });

    // Two of three paused: fewer in-sync replicas than min.insync.replicas=2 can hold the
    // records. (Every node here is also a metadata voter, so the quorum is lost too and the
    // ISR cannot even shrink; either way nothing may be acknowledged.)
    signal(&cluster.nodes[a], Signal::SIGSTOP);
    signal(&cluster.nodes[b], Signal::SIGSTOP);
    let mut cfg = idempotent(&bootstrap);
    cfg.set("message.timeout.ms", "4000");
    let refused = produce_all(&cfg, "pause", &msgs[60..90]);
    assert!(
        refused.iter().all(|d| d.result.is_err()),
        "acks=all acknowledges nothing with two of three replicas paused"
    );
    signal(&cluster.nodes[a], Signal::SIGCONT);
    signal(&cluster.nodes[b], Signal::SIGCONT);
    wait_for(&cluster, l, "pause", "both rejoined", |_, _, isr| {
        isr.len() == 3
    });
    for d in &mut more {
        d.seq += 30;
    }
    reports.extend(more);
    assert_acked_records_kept(&bootstrap, "pause", &msgs, &reports);
}

#[test]
fn sigterm_moves_leadership_away_before_the_broker_stops() {
    // A session far longer than the test: only the controlled shutdown can move leadership.
    let mut settings = SETTINGS.to_vec();
    settings.push(("broker.session.timeout.ms", "600000"));
    let mut cluster = Cluster::start_with(3, &settings);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    create_rf3(&cluster.nodes[0].bootstrap, "term");
    let (leader, epoch, _) = wait_for(&cluster, 0, "term", "all three in sync", |l, _, isr| {
        l >= 0 && isr.len() == 3
    });
    let msgs = numbered_messages("term", 50, 1);
    let bootstrap = cluster.nodes[leader as usize].bootstrap.clone();
    let acked = produce_all(&idempotent(&bootstrap), "term", &msgs);
    cluster.nodes[leader as usize].stop();
    let survivor = (leader as usize + 1) % 3;
    let (new_leader, new_epoch, _) = wait_for(
        &cluster,
        survivor,
        "term",
        "another replica leads after the SIGTERM",
        |l, _, _| l >= 0 && l != leader,
    );
    assert!(new_epoch > epoch && new_leader != leader);
    let bootstrap = cluster.bootstrap();
    assert_acked_records_kept(&bootstrap, "term", &msgs, &acked);
}

/// The bytes of a partition's first segment in a broker's data directory.
fn segment(node: &Broker, dir: &str) -> Vec<u8> {
    std::fs::read(node.data_dir.join(dir).join("00000000000000000000.log")).unwrap_or_default()
}

#[test]
fn a_returning_old_leader_truncates_its_divergent_tail() {
    let mut cluster = Cluster::start_with(3, SETTINGS);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    create_rf3(&cluster.nodes[0].bootstrap, "diverge");
    let (leader, epoch, _) = wait_for(&cluster, 0, "diverge", "all three in sync", |l, _, isr| {
        l >= 0 && isr.len() == 3
    });
    let l = leader as usize;
    let (a, b) = ((l + 1) % 3, (l + 2) % 3);
    let msgs = numbered_messages("diverge", 45, 1);
    let old_bootstrap = cluster.nodes[l].bootstrap.clone();
    let mut acked = produce_all(&idempotent(&old_bootstrap), "diverge", &msgs[..20]);
    assert!(acked.iter().all(|d| d.result.is_ok()));

    // The followers die (a paused one could still take a fetch response in flight); the
    // leader takes acks=1 writes nobody else has, then dies too; the followers come back.
    cluster.nodes[a].kill9();
    cluster.nodes[b].kill9();
    let mut acks1 = producer_config(&old_bootstrap, "none");
    acks1.set("acks", "1");
    let tail: Vec<Outgoing> = numbered_messages("divergent", 10, 1);
    let diverged = produce_all(&acks1, "diverge", &tail);
    assert!(
        diverged.iter().all(|d| d.result.is_ok()),
        "acks=1 on the leader alone"
    );
    cluster.nodes[l].kill9();
    // Together: neither is ready without the other (the metadata quorum needs two).
    cluster.nodes[a].launch_again();
    cluster.nodes[b].launch_again();
    cluster.nodes[a].wait_ready();
    cluster.nodes[b].wait_ready();
    let (new_leader, _, _) = wait_for(&cluster, a, "diverge", "a follower leads", |nl, e, _| {
        nl >= 0 && nl != leader && e > epoch
    });
    let bootstrap = format!(
        "{},{}",
        cluster.nodes[a].bootstrap, cluster.nodes[b].bootstrap
    );
    let mut after = produce_all(&idempotent(&bootstrap), "diverge", &msgs[20..45]);
    assert!(
        after.iter().all(|d| d.result.is_ok()),
        "the new leader takes writes"
    );

    cluster.nodes[l].start_again();
    wait_for(
        &cluster,
        a,
        "diverge",
        "the old leader rejoined the ISR",
        |_, _, isr| isr.len() == 3,
    );
    // Rejoined means caught up; its log is now the new leader's, byte for byte.
    let new = &cluster.nodes[new_leader as usize];
    wait_until(WAIT, "the old leader's log equals the new leader's", || {
        segment(&cluster.nodes[l], "diverge-0") == segment(new, "diverge-0")
    });
    let all = consume_all(&cluster.bootstrap(), "diverge");
    let payloads: Vec<Vec<u8>> = all[&0].iter().filter_map(|r| r.payload.clone()).collect();
    for t in &tail {
        assert!(!payloads.contains(&t.payload), "the divergent tail is gone");
    }
    for d in &mut after {
        d.seq += 20;
    }
    acked.extend(after);
    assert_acked_records_kept(&cluster.bootstrap(), "diverge", &msgs, &acked);
}

/// The high watermark of partition 0 of `topic` in `node`'s `replication-offset-checkpoint`.
fn checkpointed_hw(node: &Broker, topic: &str) -> Option<i64> {
    let text = std::fs::read_to_string(node.data_dir.join("replication-offset-checkpoint")).ok()?;
    text.lines().skip(2).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[..] {
            [t, "0", hw] if t == topic => hw.parse().ok(),
            _ => None,
        }
    })
}

#[test]
fn an_old_leader_truncates_a_divergent_tail_its_high_watermark_covers() {
    // KIP-101's point: the high watermark is no safe truncation point. With its follower out
    // of the ISR, the leader's acks=1 writes are committed by an ISR of one and checkpointed;
    // an unclean election then makes the follower leader without them. Cutting the returning
    // old leader at its high watermark would keep them, with the new leader's records after
    // them; the divergence point from OffsetForLeaderEpoch drops them.
    let settings = [
        ("replica.lag.time.max.ms", "1500"),
        ("unclean.leader.election.enable", "true"),
    ];
    let mut cluster = Cluster::start_with(3, &settings);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    // Replicas on nodes 0 and 1; node 2 is only a metadata voter, and the observer here.
    create_replicated(&cluster.nodes[2].bootstrap, "unclean", 2, &[0, 1]);
    let (old, epoch, _) = wait_for(&cluster, 2, "unclean", "both in sync", |l, _, isr| {
        l >= 0 && isr.len() == 2
    });
    let (a, b) = (old as usize, 1 - old as usize);
    let msgs = numbered_messages("unclean", 35, 1);
    let mut acked = produce_all(
        &idempotent(&cluster.nodes[a].bootstrap),
        "unclean",
        &msgs[..20],
    );
    assert!(acked.iter().all(|d| d.result.is_ok()));

    signal(&cluster.nodes[b], Signal::SIGSTOP);
    wait_for(
        &cluster,
        2,
        "unclean",
        "the paused follower left the ISR",
        |_, _, isr| isr.len() == 1 && isr.contains(&(a as i32)),
    );
    let mut acks1 = producer_config(&cluster.nodes[a].bootstrap, "none");
    acks1.set("acks", "1");
    let tail = numbered_messages("divergent", 10, 1);
    assert!(produce_all(&acks1, "unclean", &tail)
        .iter()
        .all(|d| d.result.is_ok()));
    wait_until(
        WAIT,
        "the old leader checkpoints a high watermark over its tail",
        || checkpointed_hw(&cluster.nodes[a], "unclean") == Some(30),
    );
    cluster.nodes[a].kill9();
    signal(&cluster.nodes[b], Signal::SIGCONT);
    wait_for(
        &cluster,
        2,
        "unclean",
        "the out-of-sync follower is elected",
        |l, e, _| l == b as i32 && e > epoch,
    );
    let leader = cluster.nodes[b].bootstrap.clone();
    let mut after = produce_all(&idempotent(&leader), "unclean", &msgs[20..]);
    assert!(
        after.iter().all(|d| d.result.is_ok()),
        "the new leader takes writes"
    );

    cluster.nodes[a].start_again();
    wait_for(
        &cluster,
        2,
        "unclean",
        "the old leader caught up",
        |_, _, isr| isr.len() == 2,
    );
    wait_until(WAIT, "the old leader's log equals the new leader's", || {
        segment(&cluster.nodes[a], "unclean-0") == segment(&cluster.nodes[b], "unclean-0")
    });
    for d in &mut after {
        d.seq += 20;
    }
    acked.extend(after);
    let from_b = consume_all(&leader, "unclean");
    assert_acked_records_kept(&leader, "unclean", &msgs, &acked);

    // Read it back from the old leader too: a controlled shutdown hands leadership back.
    cluster.nodes[b].stop();
    wait_for(
        &cluster,
        2,
        "unclean",
        "the old leader leads again",
        |l, _, _| l == a as i32,
    );
    let from_a = consume_all(&cluster.nodes[a].bootstrap, "unclean");
    assert_eq!(from_a, from_b, "both replicas serve the same records");
    let payloads: Vec<&[u8]> = from_a[&0]
        .iter()
        .filter_map(|r| r.payload.as_deref())
        .collect();
    assert_eq!(payloads.len(), 35);
    for t in &tail {
        assert!(
            !payloads.contains(&&t.payload[..]),
            "the divergent tail is gone"
        );
    }
}

/// KIP-73: with both throttled rates at 40 kB/s and the topic throttling every replica, a
/// follower paused out of the ISR catches up 200 kB at the throttled rate (both quotas pass
/// at most one second's burst at once, so it needs at least ~4 s), and both sides count the
/// throttled bytes; the follower that stayed in sync is never throttled.
#[test]
fn replication_throttles_slow_an_out_of_sync_follower_only() {
    use rdkafka::admin::{AdminClient, AlterConfig, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    const RATE: &str = "40000";
    let mut settings = SETTINGS.to_vec();
    settings.extend([
        ("leader.replication.throttled.rate", RATE),
        ("follower.replication.throttled.rate", RATE),
    ]);
    let cluster = Cluster::start_with(3, &settings);
    cluster.wait_for_brokers(0, &[0, 1, 2], WAIT);
    create_rf3(&cluster.nodes[0].bootstrap, "throttled");
    let (leader, _, _) = wait_for(
        &cluster,
        0,
        "throttled",
        "all three in sync",
        |l, _, isr| l >= 0 && isr.len() == 3,
    );
    let l = leader as usize;
    let (a, b) = ((l + 1) % 3, (l + 2) % 3);
    let bootstrap = cluster.nodes[l].bootstrap.clone();
    let admin: AdminClient<DefaultClientContext> =
        client_config(&bootstrap).create().expect("admin client");
    let alter = AlterConfig::new(ResourceSpecifier::Topic("throttled"))
        .set("leader.replication.throttled.replicas", "*")
        .set("follower.replication.throttled.replicas", "*");
    let done = block_on(admin.alter_configs([&alter], &admin_options())).expect("alter configs");
    assert!(done.iter().all(|r| r.is_ok()), "{done:?}");

    signal(&cluster.nodes[a], Signal::SIGSTOP);
    wait_for(
        &cluster,
        l,
        "throttled",
        "the paused follower left the ISR",
        |_, _, isr| !isr.contains(&(a as i32)) && isr.len() == 2,
    );
    // 200 records of 1 kB with acks=all: the in-sync follower keeps up (not throttled).
    let msgs: Vec<Outgoing> = (0..200)
        .map(|i| Outgoing::new(0, format!("k{i}"), format!("{i:04}{}", "x".repeat(1000))))
        .collect();
    // Small batches: a batch larger than what the quota holds still passes whole (KIP-74).
    let mut small_batches = idempotent(&bootstrap);
    small_batches.set("batch.num.messages", "4");
    let acked = produce_all(&small_batches, "throttled", &msgs);
    assert!(
        acked.iter().all(|d| d.result.is_ok()),
        "acks=all with one in-sync follower"
    );
    let in_sync = partition_state(&bootstrap, "throttled")
        .expect("partition state")
        .2;
    assert!(
        in_sync.contains(&(b as i32)),
        "the in-sync follower stayed: {in_sync:?}"
    );

    let resumed = std::time::Instant::now();
    signal(&cluster.nodes[a], Signal::SIGCONT);
    wait_for(
        &cluster,
        l,
        "throttled",
        "the throttled follower rejoined",
        |_, _, isr| isr.len() == 3,
    );
    let took = resumed.elapsed();
    let counted = |node: usize, side: &str| {
        gauge(
            &cluster.nodes[node].metrics_addr,
            &format!("fjord_replication_throttled_bytes_total{{side=\"{side}\"}}"),
        )
    };
    assert!(
        took >= Duration::from_millis(2500),
        "200 kB at 40 kB/s caught up in {took:?} (leader counted {}, follower {})",
        counted(l, "leader"),
        counted(a, "follower")
    );
    assert!(
        counted(l, "leader") >= 150_000.0,
        "{}",
        counted(l, "leader")
    );
    assert!(
        counted(a, "follower") >= 150_000.0,
        "{}",
        counted(a, "follower")
    );
    // Only the out-of-sync follower's bytes count: the in-sync one's 200 kB do not.
    assert!(counted(l, "leader") < 400_000.0, "{}", counted(l, "leader"));
    assert_acked_records_kept(&bootstrap, "throttled", &msgs, &acked);
}
