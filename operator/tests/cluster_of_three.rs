//! A three-broker Cluster under the test kubelet: the operator renders a real three-voter
//! metadata quorum, the brokers find each other by their headless-service names, a Topic is
//! spread over them, and a version change rolls them one at a time (the active controller
//! last) while a producer runs, losing no acknowledged record.
//!
//! The producer and the final reader are this test binary run again as a child process
//! ([`client_process_entry_point`]) inside the kubelet's mount namespace, because only there do
//! the brokers' advertised names (`events-<n>.events-brokers.streaming.svc`) resolve, and
//! librdkafka resolves them itself.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fjord_crds::Cluster;
use fjord_operator::run;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use support::fake_apiserver::FakeApiServer;
use support::{
    context_with_dns, create_ready_topic, describe_topic, eventually_within, kubelet, ready,
    Operator,
};

const NS: &str = "streaming";
const CLUSTERS: &str = "/apis/fjord.dev/v1alpha1/clusters";
const PODS: &str = "/api/v1/pods";
const TOPICS: &str = "/apis/fjord.dev/v1alpha1/topics";
const BROKERS: i32 = 3;
/// The largest Cluster a test here runs.
const MAX_BROKERS: i32 = 5;
/// Replication factor of the test topic. 1 until the broker replicates partitions; raise it
/// (and the roll then keeps every partition available) once replication lands.
const REPLICATION_FACTOR: i32 = 1;
/// Environment variable that turns this test binary into a client process.
const ROLE_VAR: &str = "FJORD_E2E_CLIENT_ROLE";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A client child process and the lines it printed so far.
struct ClientProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl ClientProcess {
    fn start(kubelet: &kubelet::Kubelet, role: &str, bootstrap: &str, topic: &str) -> Self {
        let exe = std::env::current_exe().expect("test binary path");
        let mut child = kubelet
            .command_with_cluster_dns(&exe)
            .args(["--exact", "client_process_entry_point", "--nocapture"])
            .env(ROLE_VAR, role)
            .env("FJORD_E2E_BOOTSTRAP", bootstrap)
            .env("FJORD_E2E_TOPIC", topic)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the client process");
        let out = child.stdout.take().expect("client stdout");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        ClientProcess { child, lines }
    }

    fn lines(&self, prefix: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Closes its stdin (the signal to finish) and waits for it to exit.
    fn finish(mut self) -> Vec<String> {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("wait for the client process");
        assert!(status.success(), "client process failed: {status}");
        // The reader thread ends at EOF, right after the exit.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.lines) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.lines.lock().unwrap().clone()
    }
}

fn logs(kubelet: &kubelet::Kubelet) -> String {
    (0..MAX_BROKERS)
        .filter(|n| !kubelet.log(&format!("events-{n}")).is_empty())
        .map(|n| {
            format!(
                "--- events-{n} ---\n{}",
                kubelet.log(&format!("events-{n}"))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn die(e: String, server: &FakeApiServer, kubelet: &kubelet::Kubelet) -> ! {
    panic!(
        "{e}\nstatus: {:#}\n{}",
        server.get(CLUSTERS, NS, "events").unwrap()["status"],
        logs(kubelet)
    )
}

/// `ack <partition> <offset> <value>` / `rec <partition> <offset> <value>` -> the triple.
fn records(lines: &[String], prefix: &str) -> BTreeSet<(i32, i64, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let mut f = l.strip_prefix(prefix)?.split(' ');
            Some((
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
                f.next()?.to_string(),
            ))
        })
        .collect()
}

/// The acknowledged records `read` lacks. librdkafka acknowledges a message implicitly,
/// with offset -1001 (unknown), when a later batch of its idempotent producer was
/// acknowledged while this one's answer was lost (a leader change): such a record only has
/// to be there at some offset.
fn lost(
    acked: &BTreeSet<(i32, i64, String)>,
    read: &BTreeSet<(i32, i64, String)>,
) -> Vec<(i32, i64, String)> {
    acked
        .iter()
        .filter(|(p, o, v)| match *o {
            o if o >= 0 => !read.contains(&(*p, o, v.clone())),
            _ => !read.iter().any(|(rp, _, rv)| rp == p && rv == v),
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_form_a_quorum_spread_a_topic_and_roll_one_at_a_time_losing_no_acked_record()
{
    let server = FakeApiServer::new();
    let client = server.client();
    let kubelet = kubelet::start(server.clone(), NS);
    let (port, metrics) = (free_port(), free_port());
    let ctx = context_with_dns(client.clone(), kubelet.dns());
    let c = client.clone();
    let _controllers = AbortOnDrop(tokio::spawn(async move {
        run::controllers(c, &[NS.to_string()], ctx).await
    }));
    let logs = || logs(&kubelet);

    let clusters: Api<Cluster> = Api::namespaced(client.clone(), NS);
    let cluster = serde_json::from_value(json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Cluster", "metadata": {"name": "events"},
        "spec": {"version": "0.1.0", "replicas": BROKERS, "listener": {"port": port},
                 "metrics": {"port": metrics},
                 "config": {"controller.quorum.election.timeout.ms": "500",
                            "broker.session.timeout.ms": "3000",
                            "broker.heartbeat.interval.ms": "300"},
                 "podTemplate": {"terminationGracePeriodSeconds": 30}},
    }))
    .unwrap();
    clusters
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
    let within = Duration::from_secs(90);
    let started = Instant::now();
    let status: Value = eventually_within("a Ready three-broker quorum", within, || {
        let c = server.get(CLUSTERS, NS, "events")?;
        let s = &c["status"];
        (ready(&c)
            && s["readyBrokers"] == BROKERS
            && s["desiredBrokers"] == BROKERS
            && s["brokers"].as_array().is_some_and(|b| b.len() == 3)
            && s["controller"].as_i64().is_some())
        .then(|| s.clone())
    })
    .await
    .unwrap_or_else(|e| die(e, &server, &kubelet));
    eprintln!("quorum of three Ready in {:?}", started.elapsed());
    let controller = status["controller"].as_i64().unwrap();
    assert!((0..3).contains(&controller), "{status:#}");
    let registered: BTreeSet<String> = status["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        registered,
        (0..3)
            .map(|n| format!("events-{n}.events-brokers.{NS}.svc"))
            .collect(),
        "brokers advertise their headless-service names"
    );

    let bootstrap = format!("events-bootstrap.{NS}.svc:{port}");
    let topic = json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Topic", "metadata": {"name": "orders"},
        "spec": {"cluster": "events", "partitions": 3, "replicationFactor": REPLICATION_FACTOR},
    });
    let described = create_ready_topic(&client, &server, &kubelet, NS, topic, &bootstrap, within)
        .await
        .unwrap_or_else(|e| die(e, &server, &kubelet));
    assert_eq!(described.partitions.len(), 3);
    let leaders: BTreeSet<i32> = described.partitions.iter().map(|p| p.leader).collect();
    assert_eq!(leaders.len(), 3, "one partition per broker: {described:?}");

    let producer = ClientProcess::start(&kubelet, "produce", &bootstrap, "orders");
    eventually_within("the producer's first acknowledgements", within, || {
        (producer.lines("ack ").len() >= 20).then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        let said = producer.lines("");
        die(format!("{e}; producer said {said:?}"), &server, &kubelet)
    });

    // Roll: every pod is replaced, never two at once, the active controller last.
    let uids = |server: &FakeApiServer| -> BTreeMap<i32, Option<Value>> {
        (0..BROKERS)
            .map(|n| {
                let pod = server.get(PODS, NS, &format!("events-{n}"));
                (n, pod.map(|p| p["metadata"]["uid"].clone()))
            })
            .collect()
    };
    let first = uids(&server);
    clusters
        .patch(
            "events",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "0.2.0"}})),
        )
        .await
        .unwrap();
    let roll_started = Instant::now();
    let mut rolled: Vec<(i32, Option<i64>)> = Vec::new();
    let mut last_controller = Some(controller);
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let now = uids(&server);
        let down = (0..BROKERS)
            .filter(|n| {
                server
                    .get(PODS, NS, &format!("events-{n}"))
                    .is_none_or(|p| !ready(&p))
            })
            .count();
        assert!(down <= 1, "{down} brokers down at once\n{}", logs());
        for n in 0..BROKERS {
            if now[&n] != first[&n] && !rolled.iter().any(|(r, _)| *r == n) {
                rolled.push((n, last_controller));
            }
        }
        let c = server.get(CLUSTERS, NS, "events").unwrap();
        if rolled.len() == BROKERS as usize
            && c["status"]["updatedBrokers"] == BROKERS
            && c["status"]["observedGeneration"] == 2
            && ready(&c)
        {
            break;
        }
        last_controller = c["status"]["controller"].as_i64().or(last_controller);
        if Instant::now() > deadline {
            die(
                format!("roll not done in 240 s; rolled {rolled:?}"),
                &server,
                &kubelet,
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("rolled 3 brokers in {:?}", roll_started.elapsed());
    for (n, controller) in &rolled[..2] {
        assert_ne!(
            Some(i64::from(*n)),
            *controller,
            "the active controller rolled before others: {rolled:?}"
        );
    }

    let sent_during_roll = producer.lines("ack ").len();
    let produced = producer.finish();
    let acked = records(&produced, "ack ");
    assert!(acked.len() >= sent_during_roll && !acked.is_empty());
    let reader = ClientProcess::start(&kubelet, "consume", &bootstrap, "orders");
    let read = records(&reader.finish(), "rec ");
    let lost = lost(&acked, &read);
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!(
        "{} records acknowledged, all read back; {} delivery errors",
        acked.len(),
        records(&produced, "err ").len()
    );
}

/// Five brokers: the operator makes pods 0-2 the quorum's voters and 3-4 broker-only nodes
/// (`process.roles=broker`), which follow the metadata log as observers; all five register,
/// host replicas and lead partitions. Under an `acks=all` producer the Cluster scales down to
/// three: the operator drains brokers 3 and 4 before their pods go; then the Topic's
/// replication factor goes 3 -> 2 -> 3 (reassignments); the producer loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_brokers_with_two_broker_only_nodes_drain_to_three_and_change_replication_factor() {
    const FIVE: i32 = 5;
    let op = Operator::start(NS);
    let (server, client, kubelet, port) = (&op.server, &op.client, &op.kubelet, op.port);
    op.create_cluster(
        NS,
        json!({"version": "0.1.0", "replicas": FIVE,
               "config": {"controller.quorum.election.timeout.ms": "500",
                          "broker.session.timeout.ms": "3000",
                          "broker.heartbeat.interval.ms": "300"}}),
    )
    .await;
    let within = Duration::from_secs(120);
    let status: Value = eventually_within("a Ready five-broker cluster", within, || {
        let c = server.get(CLUSTERS, NS, "events")?;
        let s = &c["status"];
        (ready(&c)
            && s["readyBrokers"] == FIVE
            && s["brokers"].as_array().is_some_and(|b| b.len() == 5))
        .then(|| s.clone())
    })
    .await
    .unwrap_or_else(|e| die(e, server, kubelet));
    let voters: BTreeSet<i64> = status["quorumVoters"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    assert_eq!(voters, BTreeSet::from([0, 1, 2]), "{status:#}");
    let files = server
        .get("/api/v1/configmaps", NS, "events-config")
        .expect("the ConfigMap");
    for n in 3..FIVE {
        let file = files["data"][format!("events-{n}.properties")]
            .as_str()
            .unwrap_or_default();
        assert!(file.contains("process.roles=broker\n"), "{file}");
    }

    let bootstrap = format!("events-bootstrap.{NS}.svc:{port}");
    let topic = json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Topic", "metadata": {"name": "orders"},
        "spec": {"cluster": "events", "partitions": 5, "replicationFactor": 3,
                 "config": {"min.insync.replicas": "2"}},
    });
    let described = create_ready_topic(client, server, kubelet, NS, topic, &bootstrap, within)
        .await
        .unwrap_or_else(|e| die(e, server, kubelet));
    let hosting: BTreeSet<i32> = described
        .partitions
        .iter()
        .flat_map(|p| p.replicas.iter().copied())
        .collect();
    assert_eq!(
        hosting,
        (0..FIVE).collect(),
        "replicas on every broker: {described:?}"
    );
    let leaders: BTreeSet<i32> = described.partitions.iter().map(|p| p.leader).collect();
    assert_eq!(
        leaders.len(),
        5,
        "a partition led by each broker: {described:?}"
    );

    let producer = ClientProcess::start(kubelet, "produce", &bootstrap, "orders");
    eventually_within("100 acknowledgements", within, || {
        (producer.lines("ack ").len() >= 100).then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        let said = producer.lines("");
        die(format!("{e}; producer said {said:?}"), server, kubelet)
    });

    // Scale down to the three voters under load: the operator moves every replica off
    // brokers 3 and 4 (AlterPartitionReassignments), and only then shrinks the StatefulSet.
    let clusters: Api<Cluster> = Api::namespaced(client.clone(), NS);
    clusters
        .patch(
            "events",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let mut drained = true;
    eventually_within(
        "brokers 3 and 4 drained and gone",
        Duration::from_secs(180),
        || {
            let c = server.get(CLUSTERS, NS, "events")?;
            let gone = (3..FIVE).all(|n| server.get(PODS, NS, &format!("events-{n}")).is_none());
            if !gone {
                return None;
            }
            let listed = c["status"]["brokers"].as_array().map(Vec::len);
            (ready(&c) && c["status"]["readyBrokers"] == 3 && listed == Some(3)).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| die(e, server, kubelet));
    let after = describe_topic(kubelet, &bootstrap, "orders").await.unwrap();
    for p in &after.partitions {
        drained &= p.replicas.iter().all(|r| *r < 3) && p.replicas.len() == 3;
    }
    assert!(
        drained,
        "every partition on brokers 0-2 with 3 replicas: {after:?}"
    );

    // Replication-factor changes are reassignments, under load: 3 -> 2 -> 3 (after the drain:
    // the Topic and Cluster controllers each start reassignments and one can replace the
    // other's, see the README).
    let topics: Api<fjord_crds::Topic> = Api::namespaced(client.clone(), NS);
    for rf in [2, 3] {
        topics
            .patch(
                "orders",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicationFactor": rf}})),
            )
            .await
            .unwrap();
        eventually_within(&format!("replication factor {rf}"), within, || {
            let t = server.get(TOPICS, NS, "orders")?;
            (ready(&t) && t["status"]["replicationFactor"] == rf).then_some(())
        })
        .await
        .unwrap_or_else(|e| die(e, server, kubelet));
        let now = describe_topic(kubelet, &bootstrap, "orders").await.unwrap();
        for p in &now.partitions {
            assert_eq!(p.replicas.len(), rf as usize, "{now:?}");
        }
    }

    let acked = records(&producer.finish(), "ack ");
    let read = records(
        &ClientProcess::start(kubelet, "consume", &bootstrap, "orders").finish(),
        "rec ",
    );
    let lost = lost(&acked, &read);
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

/// Not a test of its own: the producer and reader processes of the test above run this test
/// binary with `FJORD_E2E_CLIENT_ROLE` set; without it this returns at once.
#[test]
fn client_process_entry_point() {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return;
    };
    let bootstrap = std::env::var("FJORD_E2E_BOOTSTRAP").expect("bootstrap");
    let topic = std::env::var("FJORD_E2E_TOPIC").expect("topic");
    match role.as_str() {
        "produce" => produce_until_stdin_closes(&bootstrap, &topic),
        "consume" => {
            for (p, recs) in fjord_tests::consume_all(&bootstrap, &topic) {
                for r in recs {
                    let value = String::from_utf8_lossy(r.payload.as_deref().unwrap_or_default());
                    println!("rec {p} {} {value}", r.offset);
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// An idempotent `acks=all` producer: one record every 10 ms until stdin closes, then flush;
/// prints `ack <partition> <offset> <value>` or `err <partition> <offset> <value> <error>` per
/// delivery report.
fn produce_until_stdin_closes(bootstrap: &str, topic: &str) {
    use rdkafka::producer::{BaseRecord, Producer};

    let mut cfg = fjord_tests::producer_config(bootstrap, "none");
    cfg.set("enable.idempotence", "true")
        .set("message.timeout.ms", "180000");
    let (producer, reports) = fjord_tests::collecting_producer(&cfg);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        s.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let mut printed = 0;
    let mut seq = 0usize;
    let print = |printed: &mut usize| {
        let all = reports.reports();
        let mut out = std::io::stdout().lock();
        for d in &all[*printed..] {
            match &d.result {
                Ok((p, o)) => writeln!(out, "ack {p} {o} m-{}", d.seq),
                Err(e) => writeln!(out, "err -1 -1 m-{} {e}", d.seq),
            }
            .expect("stdout");
        }
        out.flush().expect("stdout");
        *printed = all.len();
    };
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let value = format!("m-{seq}");
        let record = BaseRecord::with_opaque_to(topic, Box::new(seq))
            .payload(&value)
            .key(&value);
        if producer.send(record).is_ok() {
            seq += 1;
        }
        print(&mut printed);
        std::thread::sleep(Duration::from_millis(10));
    }
    producer.flush(Duration::from_secs(180)).expect("flush");
    print(&mut printed);
}
