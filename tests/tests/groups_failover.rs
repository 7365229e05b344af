//! Consumer-group failover with rdkafka: a crashed member's partitions move after its session
//! timeout, a static member that restarts in time gets its partitions back without a rebalance,
//! and a cooperative-sticky group rebalances incrementally. Plus timings with default settings.
//!
//! The crashed member is a separate process (Debian's `kcat -G`, librdkafka like rdkafka) killed
//! with SIGKILL: librdkafka heartbeats from a background thread, so a crash inside this process
//! could not be simulated.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fjord_tests::*;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::RebalanceProtocol;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;
const SESSION_TIMEOUT_MS: u64 = 6000;

fn all_partitions() -> BTreeSet<i32> {
    (0..PARTITIONS).collect()
}

/// One rebalance callback as the application saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Assign(BTreeSet<i32>),
    Revoke(BTreeSet<i32>),
    Error(String),
}

/// Records rebalance callbacks and the generation of every JoinGroup response (from
/// librdkafka's `cgrp` debug log: "JoinGroup response: GenerationId N, ...").
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    generations: Arc<Mutex<Vec<i32>>>,
}

impl Recorder {
    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
    fn generations(&self) -> Vec<i32> {
        self.generations.lock().unwrap().clone()
    }
    /// The partitions the application owns after applying every callback (incremental under
    /// the cooperative protocol, whole-set under the eager one: `eager` says which).
    fn owned(&self, eager: bool) -> BTreeSet<i32> {
        let mut owned = BTreeSet::new();
        for e in self.events() {
            match e {
                Event::Assign(p) if eager => owned = p,
                Event::Assign(p) => owned.extend(p),
                Event::Revoke(_) if eager => owned.clear(),
                Event::Revoke(p) => owned.retain(|x| !p.contains(x)),
                Event::Error(_) => {}
            }
        }
        owned
    }
}

impl ClientContext for Recorder {
    fn log(&self, _level: RDKafkaLogLevel, _fac: &str, msg: &str) {
        if let Some(rest) = msg.split("JoinGroup response: GenerationId ").nth(1) {
            let digits: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            if let Ok(g) = digits.parse() {
                self.generations.lock().unwrap().push(g);
            }
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> BTreeSet<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let e = match rebalance {
            Rebalance::Assign(tpl) => Event::Assign(partitions_of(tpl)),
            Rebalance::Revoke(tpl) => Event::Revoke(partitions_of(tpl)),
            Rebalance::Error(e) => Event::Error(e.to_string()),
        };
        self.events.lock().unwrap().push(e);
    }
}

type Recorded = BaseConsumer<Recorder>;

fn recorded_consumer(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> (Recorded, Recorder) {
    let mut cfg = client_config(bootstrap);
    cfg.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .set("debug", "cgrp")
        .set_log_level(RDKafkaLogLevel::Debug);
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    let rec = Recorder::default();
    let c = cfg
        .create_with_context(rec.clone())
        .expect("create consumer");
    (c, rec)
}

fn assigned(c: &Recorded) -> BTreeSet<i32> {
    c.assignment()
        .map(|l| partitions_of(&l))
        .unwrap_or_default()
}

/// Polls every consumer (20 ms each) until `done` holds for their assignments; panics with
/// `what` after `timeout`. Returns the assignments that satisfied `done`.
fn poll_until(
    consumers: &[&Recorded],
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[BTreeSet<i32>]) -> bool,
) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + timeout;
    loop {
        for c in consumers {
            let _ = c.poll(Duration::from_millis(20));
        }
        let sets: Vec<BTreeSet<i32>> = consumers.iter().map(|c| assigned(c)).collect();
        if done(&sets) {
            return sets;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}; assignments {sets:?}"
        );
    }
}

/// The sets are pairwise disjoint, none is empty, and together they are every partition.
fn disjoint_cover(sets: &[BTreeSet<i32>]) -> bool {
    let total: usize = sets.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
    total == PARTITIONS as usize && union == all_partitions() && sets.iter().all(|s| !s.is_empty())
}

/// A `kcat -G` group member in its own process; its stderr ("% Group g rebalanced (memberid
/// ...): assigned: t [0], t [3]") is collected on a thread.
struct KcatMember {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl KcatMember {
    fn start(bootstrap: &str, group: &str, topic: &str) -> KcatMember {
        let session = format!("session.timeout.ms={SESSION_TIMEOUT_MS}");
        let mut child = Command::new("kcat")
            .args(["-b", bootstrap, "-G", group, topic])
            .args(["-X", &session, "-X", "heartbeat.interval.ms=500"])
            .args([
                "-X",
                "broker.address.family=v4",
                "-X",
                "auto.offset.reset=earliest",
            ])
            .args(["-X", "enable.auto.commit=false"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kcat (scripts/test.sh installs Debian's kcat)");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        KcatMember { child, stderr }
    }

    /// The partitions of the last "assigned:" line, or `None` before the first or after a
    /// later "revoked:" line.
    fn assigned(&self) -> Option<BTreeSet<i32>> {
        let log = self.stderr.lock().unwrap().clone();
        let line = log.lines().rev().find(|l| l.contains("rebalanced"))?;
        let list = line.split("assigned:").nth(1)?;
        Some(
            list.split(',')
                .filter_map(|p| {
                    let inner = p.split('[').nth(1)?.split(']').next()?;
                    inner.trim().parse().ok()
                })
                .collect(),
        )
    }

    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL kcat");
        self.child.wait().expect("reap kcat");
    }
}

impl Drop for KcatMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_member_killed_without_leaving_loses_its_partitions_after_the_session_timeout() {
    let broker = Broker::start_with(&[("group.initial.rebalance.delay.ms", "0")]);
    broker.create_topic("crash", PARTITIONS, &[]);

    let (survivor, rec) = recorded_consumer(&broker.bootstrap, "g-crash", &[]);
    survivor.subscribe(&["crash"]).unwrap();
    poll_until(
        &[&survivor],
        Duration::from_secs(30),
        "the first member owns everything",
        |s| s[0] == all_partitions(),
    );

    let mut victim = KcatMember::start(&broker.bootstrap, "g-crash", "crash");
    let mut victim_parts = BTreeSet::new();
    poll_until(
        &[&survivor],
        Duration::from_secs(60),
        "kcat and the survivor split the partitions",
        |s| match victim.assigned() {
            Some(v) => {
                victim_parts = v.clone();
                disjoint_cover(&[s[0].clone(), v])
            }
            None => false,
        },
    );
    let survivor_before = assigned(&survivor);
    let events_before = rec.events().len();

    victim.kill9();
    let killed = Instant::now();
    poll_until(
        &[&survivor],
        Duration::from_secs(60),
        "the survivor owns every partition",
        |s| s[0] == all_partitions(),
    );
    let moved_after = killed.elapsed();
    eprintln!(
        "MEASURE kill -9 of a member -> survivor owns all partitions (session.timeout.ms={SESSION_TIMEOUT_MS}): {moved_after:?}"
    );
    // The broker cannot know the member is gone until its session expires (the last heartbeat
    // was at most heartbeat.interval.ms = 500 ms before the kill).
    assert!(
        moved_after >= Duration::from_millis(SESSION_TIMEOUT_MS - 1500),
        "partitions moved {moved_after:?} after the kill, before the {SESSION_TIMEOUT_MS} ms session timeout could expire"
    );
    assert!(
        rec.events()[events_before..]
            .iter()
            .any(|e| *e == Event::Assign(all_partitions())),
        "the survivor's rebalance callback assigned everything: {:?}",
        rec.events()
    );
    assert!(survivor_before.len() < PARTITIONS as usize && !victim_parts.is_empty());

    // And the survivor really reads the dead member's partitions.
    produce_n(&broker.bootstrap, "crash", 60, PARTITIONS);
    let mut got: BTreeSet<i32> = BTreeSet::new();
    let mut count = 0;
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while count < 60 {
        if let Some(m) = survivor.poll(Duration::from_millis(50)) {
            let m = m.expect("consume");
            got.insert(m.partition());
            count += 1;
        }
        assert!(
            Instant::now() < deadline,
            "survivor read only {count} of 60 messages"
        );
    }
    assert_eq!(got, all_partitions(), "messages from every partition");
}

#[test]
fn a_static_member_restarting_within_its_session_timeout_gets_its_partitions_back_without_a_rebalance(
) {
    const STATIC_SESSION_MS: u64 = 10_000;
    let broker = Broker::start_with(&[("group.initial.rebalance.delay.ms", "0")]);
    broker.create_topic("static", PARTITIONS, &[]);

    let (a, rec_a) = recorded_consumer(&broker.bootstrap, "g-static", &[]);
    a.subscribe(&["static"]).unwrap();
    poll_until(&[&a], Duration::from_secs(30), "a owns everything", |s| {
        s[0] == all_partitions()
    });

    let static_cfg = [
        ("group.instance.id", "static-1"),
        ("session.timeout.ms", "10000"),
    ];
    let (s, rec_s) = recorded_consumer(&broker.bootstrap, "g-static", &static_cfg);
    s.subscribe(&["static"]).unwrap();
    let split = poll_until(
        &[&a, &s],
        Duration::from_secs(60),
        "a and the static member split",
        disjoint_cover,
    );
    let (a_parts, s_parts) = (split[0].clone(), split[1].clone());
    let generation = *rec_a
        .generations()
        .last()
        .expect("a saw a JoinGroup response");
    assert_eq!(
        rec_s.generations().last(),
        Some(&generation),
        "both members in one generation"
    );
    let a_events = rec_a.events();
    let a_joins = rec_a.generations().len();

    // librdkafka does not send LeaveGroup when a static member closes.
    let closed = Instant::now();
    drop(s);
    let (s2, rec_s2) = recorded_consumer(&broker.bootstrap, "g-static", &static_cfg);
    s2.subscribe(&["static"]).unwrap();
    poll_until(
        &[&a, &s2],
        Duration::from_secs(30),
        "the restarted static member is assigned",
        |s| !s[1].is_empty(),
    );
    eprintln!(
        "MEASURE static member close -> restarted instance assigned: {:?}",
        closed.elapsed()
    );
    assert!(
        closed.elapsed() < Duration::from_millis(STATIC_SESSION_MS),
        "restart took longer than the session timeout"
    );

    // Keep both members busy past the point where the closed instance's session would have
    // expired: nothing may change.
    let quiet_until = closed + Duration::from_millis(STATIC_SESSION_MS + 3000);
    while Instant::now() < quiet_until {
        let _ = a.poll(Duration::from_millis(20));
        let _ = s2.poll(Duration::from_millis(20));
        assert_eq!(
            assigned(&a),
            a_parts,
            "the other member's assignment changed"
        );
        assert_eq!(
            assigned(&s2),
            s_parts,
            "the restarted static member got different partitions"
        );
    }
    assert_eq!(rec_a.events(), a_events, "the other member saw a rebalance");
    assert_eq!(
        rec_a.generations().len(),
        a_joins,
        "the other member rejoined: {:?}",
        rec_a.generations()
    );
    assert_eq!(
        rec_s2.generations(),
        vec![generation],
        "the restarted static member joined the existing generation"
    );
    assert_eq!(rec_s2.events(), vec![Event::Assign(s_parts.clone())]);

    // The unchanged generation is still accepted for commits by both members.
    for (c, parts) in [(&a, &a_parts), (&s2, &s_parts)] {
        let mut tpl = TopicPartitionList::new();
        for p in parts {
            tpl.add_partition_offset("static", *p, Offset::Offset(0))
                .unwrap();
        }
        c.commit(&tpl, CommitMode::Sync)
            .expect("commit with the generation the members hold");
    }
}

#[test]
fn a_cooperative_sticky_group_rebalances_incrementally_without_revoking_everything() {
    let broker = Broker::start_with(&[("group.initial.rebalance.delay.ms", "0")]);
    broker.create_topic("coop", PARTITIONS, &[]);
    let coop = [("partition.assignment.strategy", "cooperative-sticky")];

    let (a, rec_a) = recorded_consumer(&broker.bootstrap, "g-coop", &coop);
    a.subscribe(&["coop"]).unwrap();
    poll_until(&[&a], Duration::from_secs(30), "a owns everything", |s| {
        s[0] == all_partitions()
    });
    assert!(
        matches!(a.rebalance_protocol(), RebalanceProtocol::Cooperative),
        "the group runs the cooperative protocol"
    );
    assert_eq!(rec_a.events(), vec![Event::Assign(all_partitions())]);

    let (b, rec_b) = recorded_consumer(&broker.bootstrap, "g-coop", &coop);
    b.subscribe(&["coop"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let _ = a.poll(Duration::from_millis(20));
        let owned_a = rec_a.owned(false);
        let _ = b.poll(Duration::from_millis(20));
        let owned_b = rec_b.owned(false);
        assert!(
            !owned_a.is_empty(),
            "a lost all its partitions: {:?}",
            rec_a.events()
        );
        assert!(
            owned_a.is_disjoint(&owned_b),
            "a partition owned twice: a {owned_a:?}, b {owned_b:?}"
        );
        if disjoint_cover(&[owned_a.clone(), owned_b.clone()])
            && assigned(&a) == owned_a
            && assigned(&b) == owned_b
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no incremental split: a {:?}, b {:?}",
            rec_a.events(),
            rec_b.events()
        );
    }

    let ev_a = rec_a.events();
    eprintln!(
        "cooperative rebalance callbacks: a {ev_a:?}, b {:?}",
        rec_b.events()
    );
    let revoked: Vec<&BTreeSet<i32>> = ev_a
        .iter()
        .filter_map(|e| match e {
            Event::Revoke(p) => Some(p),
            _ => None,
        })
        .collect();
    assert!(
        !revoked.is_empty(),
        "a gave up partitions through a revoke: {ev_a:?}"
    );
    for r in &revoked {
        assert!(
            r.len() < PARTITIONS as usize,
            "a revoke took everything: {ev_a:?}"
        );
    }
    assert!(
        !ev_a.iter().any(|e| matches!(e, Event::Error(_))),
        "rebalance errors: {ev_a:?}"
    );
    let (fa, fb) = (rec_a.owned(false), rec_b.owned(false));
    assert_eq!(
        (fa.len(), fb.len()),
        (3, 3),
        "an even split: a {fa:?}, b {fb:?}"
    );
    assert!(
        rec_b
            .events()
            .iter()
            .all(|e| !matches!(e, Event::Revoke(_))),
        "b never had to give anything back: {:?}",
        rec_b.events()
    );
}

fn measure_group(bootstrap: &str, group: &str, protocol: &str) -> (Duration, Duration, Duration) {
    let plain = |c: &BaseConsumer| {
        c.assignment()
            .map(|l| partitions_of(&l))
            .unwrap_or_default()
    };
    let make = || {
        let mut cfg = client_config(bootstrap);
        cfg.set("group.id", group)
            .set("group.protocol", protocol)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        cfg.create::<BaseConsumer>().expect("create consumer")
    };

    // One consumer, idle group: subscribe -> first message.
    let a = make();
    let started = Instant::now();
    a.subscribe(&["timing"]).unwrap();
    let first = loop {
        if let Some(m) = a.poll(Duration::from_millis(10)) {
            m.expect("consume");
            break started.elapsed();
        }
        assert!(started.elapsed() < CLIENT_TIMEOUT, "no message");
    };

    // A second member, then the third: third subscribes -> all three hold a disjoint cover.
    let b = make();
    b.subscribe(&["timing"]).unwrap();
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let split = |cs: &[&BaseConsumer]| {
        for c in cs {
            while let Some(m) = c.poll(Duration::from_millis(10)) {
                m.expect("consume");
            }
        }
        let sets: Vec<BTreeSet<i32>> = cs.iter().map(|c| plain(c)).collect();
        disjoint_cover(&sets)
    };
    while !split(&[&a, &b]) {
        assert!(Instant::now() < deadline, "two members never split");
    }
    let c = make();
    let started = Instant::now();
    c.subscribe(&["timing"]).unwrap();
    while !split(&[&a, &b, &c]) {
        assert!(Instant::now() < deadline, "three members never split");
    }
    let third = started.elapsed();
    drop((a, b, c));

    // Three consumers subscribing to an idle group at once.
    let cs = [make(), make(), make()];
    let started = Instant::now();
    for c in &cs {
        c.subscribe(&["timing"]).unwrap();
    }
    let refs: Vec<&BaseConsumer> = cs.iter().collect();
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while !split(&refs) {
        assert!(Instant::now() < deadline, "three fresh members never split");
    }
    (first, third, started.elapsed())
}

/// Timings with the broker's default group settings (group.initial.rebalance.delay.ms = 500)
/// and librdkafka's defaults (session.timeout.ms 45000, heartbeat.interval.ms 3000: members
/// already in a group learn of a rebalance from their next heartbeat): printed, and checked only
/// for the outcome (data arrives, three members split the partitions). Round 0 is the broker's
/// first group (it creates `__consumer_offsets` then).
#[test]
fn with_default_settings_a_lone_consumer_gets_data_and_three_members_split_the_partitions() {
    with_default_settings(Protocol::Classic);
}

/// The same under KIP-848 with the broker's defaults (`group.consumer.heartbeat.interval.ms`
/// 5000: members learn of a new target at their next heartbeat, and a partition moves only
/// after its previous owner's next heartbeat confirms the revocation).
#[test]
fn with_default_settings_a_lone_consumer_gets_data_and_three_members_split_the_partitions_under_kip848(
) {
    with_default_settings(Protocol::Consumer);
}

/// `group.protocol`.
#[derive(Clone, Copy, Debug)]
enum Protocol {
    Classic,
    Consumer,
}

fn with_default_settings(protocol: Protocol) {
    let name = match protocol {
        Protocol::Classic => "classic",
        Protocol::Consumer => "consumer",
    };
    let broker = Broker::start();
    broker.create_topic("timing", PARTITIONS, &[]);
    produce_n(&broker.bootstrap, "timing", 60, PARTITIONS);
    for round in 0..3 {
        let (first, third, three_at_once) =
            measure_group(&broker.bootstrap, &format!("g-timing-{round}"), name);
        eprintln!(
            "MEASURE defaults ({name}) round {round}: subscribe -> first message (1 consumer, idle group) {first:?}; \
             third member subscribes -> 3-way disjoint cover {third:?}; \
             3 consumers subscribe to an idle group -> 3-way disjoint cover {three_at_once:?}"
        );
    }
}
