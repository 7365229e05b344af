//! A short run of every fjord-bench mode against a real `fjord-broker` process: the JSON
//! parses and the counts add up. Never a timing assertion: speed is what the benchmark
//! reports, not what a test decides.
//!
//! Broker binary: `$FJORD_BROKER_BIN`, else `fjord-broker` beside this crate's binary in the
//! target directory (build it first: `cargo build -p fjord-broker`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A running broker on 127.0.0.1 with port 0 and a temp log dir; killed when dropped.
struct Broker {
    addr: String,
    child: Child,
    _dir: tempfile::TempDir,
}

fn broker_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FJORD_BROKER_BIN") {
        return bin.into();
    }
    // CARGO_BIN_EXE_* is `<target dir>/<profile>/fjord-bench`; the broker is built beside it.
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_fjord-bench"));
    bench.with_file_name("fjord-broker")
}

impl Broker {
    fn start() -> Broker {
        let bin = broker_bin();
        assert!(
            bin.exists(),
            "{} not found: build it with `cargo build -p fjord-broker` or set FJORD_BROKER_BIN",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&bin)
            .arg("--set")
            .arg(format!("log.dirs={}", dir.path().display()))
            .args(["--set", "listeners=PLAINTEXT://127.0.0.1:0"])
            .args(["--set", "metrics.port=0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Reads every line, so the broker never blocks on a full pipe after it is ready.
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("broker ready") {
                    if let Some(addr) = kafka_addr(&line) {
                        let _ = tx.send(Ok(addr));
                    }
                }
                seen.push(line);
            }
            let _ = tx.send(Err(seen.join("\n")));
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(addr)) => addr,
            Ok(Err(log)) => panic!("broker exited before it was ready:\n{log}"),
            Err(_) => panic!("broker did not report `broker ready` within 60 s"),
        };
        Broker {
            addr,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kafka_addr=HOST:PORT` from the text-format ready line (no ANSI codes: not a TTY).
fn kafka_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("kafka_addr=")? + "kafka_addr=".len()..];
    let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    (!addr.is_empty()).then_some(addr)
}

/// Runs fjord-bench with `args` and `--json`; its stdout as JSON.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_fjord-bench"))
        .args(args)
        .arg("--json")
        .output()
        .expect("cannot run fjord-bench");
    assert!(
        out.status.success(),
        "fjord-bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn produce_then_consume_counts_every_message_and_byte() {
    let broker = Broker::start();
    let pid = broker.child.id().to_string();
    let b = broker.addr.as_str();
    let produced = bench(&[
        "produce",
        "--bootstrap",
        b,
        "--broker-pid",
        &pid,
        "--topic",
        "smoke",
        "--count",
        "500",
        "--message-size",
        "100",
        "--acks",
        "all",
        "--idempotence",
    ]);
    assert_eq!(produced["mode"], "produce");
    assert_eq!(produced["messages"], 500);
    assert_eq!(produced["bytes"], 500 * 100);
    assert_eq!(produced["errors"], 0);
    assert_eq!(produced["settings"]["partitions"], "3");
    assert_eq!(produced["latency_ms"]["samples"], 500);
    assert!(produced["broker_cpu"]["cpu_s"].as_f64().unwrap() >= 0.0);

    let consumed = bench(&["consume", "--bootstrap", b, "--topic", "smoke"]);
    assert_eq!(consumed["messages"], 500);
    assert_eq!(consumed["bytes"], 500 * 100);

    let some = bench(&[
        "consume",
        "--bootstrap",
        b,
        "--topic",
        "smoke",
        "--count",
        "120",
    ]);
    assert_eq!(some["messages"], 120);
}

#[test]
fn compressed_produce_is_consumed_back_whole() {
    let broker = Broker::start();
    let b = broker.addr.as_str();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("smoke-{codec}");
        let produced = bench(&[
            "produce",
            "--bootstrap",
            b,
            "--topic",
            &topic,
            "--count",
            "300",
            "--compression",
            codec,
        ]);
        assert_eq!(produced["messages"], 300, "{codec}");
        let consumed = bench(&["consume", "--bootstrap", b, "--topic", &topic]);
        assert_eq!(consumed["messages"], 300, "{codec}");
        assert_eq!(consumed["bytes"], 300 * 1024, "{codec}");
    }
}

#[test]
fn latency_measures_every_message_after_the_warmup() {
    let broker = Broker::start();
    let report = bench(&[
        "latency",
        "--bootstrap",
        &broker.addr,
        "--rate",
        "200",
        "--duration",
        "1",
        "--warmup",
        "0.2",
    ]);
    assert_eq!(report["mode"], "latency");
    assert_eq!(report["errors"], 0);
    let measured = report["messages"].as_u64().unwrap();
    // 200 msg/s for 1 s; the split at the warm-up boundary can move one message either way.
    assert!((199..=201).contains(&measured), "measured {measured}");
    assert_eq!(report["latency_ms"]["samples"].as_u64(), Some(measured));
    let p = &report["latency_ms"];
    assert!(p["p50"].as_f64() <= p["p99"].as_f64() && p["p99"].as_f64() <= p["max"].as_f64());
}

#[test]
fn compare_alternates_between_both_addresses_and_reports_ratios() {
    let a = Broker::start();
    let b = Broker::start();
    let report = bench(&[
        "produce",
        "--bootstrap",
        &a.addr,
        "--compare-bootstrap",
        &b.addr,
        "--rounds",
        "2",
        "--count",
        "100",
        "--message-size",
        "10",
    ]);
    assert_eq!(report["a"]["bootstrap"], a.addr.as_str());
    assert_eq!(report["b"]["bootstrap"], b.addr.as_str());
    for side in ["a", "b"] {
        let rounds = report[side]["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 2);
        assert!(rounds.iter().all(|r| r["messages"] == 100));
    }
    assert!(report["ratio_a_over_b"]["msgs_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn group_consume_reads_every_message() {
    let broker = Broker::start();
    let b = broker.addr.as_str();
    bench(&[
        "produce",
        "--bootstrap",
        b,
        "--topic",
        "smoke-group",
        "--count",
        "200",
    ]);
    let consumed = bench(&[
        "consume",
        "--bootstrap",
        b,
        "--topic",
        "smoke-group",
        "--group",
        "g",
    ]);
    assert_eq!(consumed["messages"], 200);
}
