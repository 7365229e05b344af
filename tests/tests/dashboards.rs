//! The shipped Grafana dashboards and alerting rules, evaluated by a real Prometheus
//! (Debian's `prometheus`) scraping the brokers of a real three-node cluster (so the metadata
//! quorum's leader, follower lag and applied-index series exist) and the operator's metrics
//! endpoint.
//!
//! Every dashboard query must return at least one series from that data. Every alert
//! expression must evaluate without error; those that are empty on a healthy system must
//! reference only metric names Prometheus has scraped. Prometheus also loads the rules file
//! itself and must report every rule healthy.
//!
//! The operator part is the operator's own `Metrics` and HTTP server (`fjord_operator::http`)
//! in this process, with one successful and one failed reconcile recorded: the operator binary
//! needs a Kubernetes API server to start.
//!
//! Skipped (with a message) when no `prometheus` binary is on PATH; scripts/test.sh installs it.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_tests::*;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use serde_json::Value;

/// Time Prometheus gets to scrape enough samples for every query (rates need two).
const QUERY_DEADLINE: Duration = Duration::from_secs(60);

struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
}

/// A port that was free a moment ago (Prometheus cannot listen on port 0 and report it).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn chart_file(rel: &str) -> PathBuf {
    workspace_root().join("helm/fjord-operator/files").join(rel)
}

fn start_prometheus(bin: &Path, brokers: &[String], operator: &str) -> Prometheus {
    let brokers = brokers
        .iter()
        .map(|b| format!("'{b}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: fjord-broker\n    static_configs:\n      - targets: [{brokers}]\n\
             \x20 - job_name: fjord-operator\n    static_configs:\n      - targets: ['{operator}']\n",
            rules = chart_file("rules/fjord-alerts.yaml").display()
        ),
    )
    .expect("write config");
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let prometheus = Prometheus {
        child,
        addr,
        _dir: dir,
    };
    wait_until(Duration::from_secs(30), "prometheus answers", || {
        http_get(&prometheus.addr, "/-/ready").is_some_and(|(s, _)| s == 200)
    });
    prometheus
}

/// `GET path` over HTTP/1.0 (so the body is never chunked); status and body.
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/api/v1/<endpoint>` as JSON; panics on an HTTP or PromQL error.
fn api(prom: &Prometheus, path_and_query: &str) -> Value {
    let (status, body) = http_get(&prom.addr, &format!("/api/v1/{path_and_query}"))
        .unwrap_or_else(|| panic!("prometheus did not answer {path_and_query}"));
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert!(
        status == 200 && v["status"] == "success",
        "{path_and_query}: {status} {body}"
    );
    v
}

fn query(prom: &Prometheus, expr: &str) -> Vec<Value> {
    api(prom, &format!("query?query={}", encode(expr)))["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Grafana's variables replaced by what an "All" selection and a short range would send.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__interval", "5s")
        .replace("$instance", ".*")
        .replace("$job", ".*")
        .replace("$topic", ".*")
        .replace("$group", ".*")
        .replace("$controller", ".*")
}

/// Metric names in a PromQL expression: our metrics all start with `fjord_`; `up` is
/// Prometheus' own.
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("fjord_") || *w == "up")
        .map(str::to_owned)
        .collect()
}

/// `(dashboard/panel title, expr)` of every target of every shipped dashboard.
fn dashboard_queries() -> Vec<(String, String)> {
    let dir = chart_file("dashboards");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dashboards dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "dashboards: {files:?}");
    for file in files {
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read"))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for panel in d["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let title = format!("{} / {}", d["title"], panel["title"]);
                out.push((title, target["expr"].as_str().expect("expr").to_owned()));
            }
        }
    }
    out
}

/// `(alert, expr)` of every rule in the shipped rules file.
fn alert_rules(prom: &Prometheus) -> Vec<(String, String, String)> {
    let rules = api(prom, "rules");
    let mut out = Vec::new();
    for group in rules["data"]["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            out.push((
                rule["name"].as_str().expect("name").to_owned(),
                rule["query"].as_str().expect("query").to_owned(),
                rule["health"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

/// Serves the operator's real metrics endpoint with one good and one failed reconcile.
fn start_operator_metrics(runtime: &tokio::runtime::Runtime) -> String {
    use fjord_operator::metrics::Metrics;
    let metrics = Arc::new(Metrics::new());
    metrics.leader.set(1);
    metrics.observe::<()>("cluster", &Ok(()), Duration::from_millis(30));
    let failed: Result<(), _> = Err(fjord_operator::error::Error::BrokerUnreachable {
        address: "demo:9092".into(),
        message: "connection refused".into(),
    });
    metrics.observe("topic", &failed, Duration::from_millis(80));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    runtime.spawn(fjord_operator::http::serve(listener, metrics));
    addr
}

/// Produces, consumes and commits so every per-topic and per-group family has samples, and
/// has one request refused so the error-response family has a series.
fn make_traffic(broker: &Broker) {
    // Three replicas, so the group's coordinator (the leader of its __consumer_offsets
    // partition, any broker) hosts the partitions whose lag it reports.
    let (code, message) = create_topic_on(&broker.bootstrap, "observed", 2, 3);
    assert_eq!(code, 0, "{message:?}");
    wait_for_partitions(&broker.bootstrap, "observed", 2);
    let again = NewTopic::new("observed", 2, TopicReplication::Fixed(1));
    let results = block_on(broker.admin().create_topics(&[again], &admin_options()))
        .expect("CreateTopics answered");
    assert!(results.iter().all(|r| r.is_err()), "{results:?}");
    produce_n(&broker.bootstrap, "observed", 200, 2);
    consume_all(&broker.bootstrap, "observed");
    let mut cfg = client_config(&broker.bootstrap);
    cfg.set("group.id", "dashboards")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let c: BaseConsumer = cfg.create().expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("observed", 0, rdkafka::Offset::Offset(40))
        .expect("partition");
    tpl.add_partition_offset("observed", 1, rdkafka::Offset::Offset(60))
        .expect("partition");
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

#[test]
fn every_dashboard_query_and_alert_expression_works_against_scraped_fjord_metrics() {
    let Some(bin) = prometheus_bin() else {
        eprintln!("SKIPPED: no `prometheus` binary on PATH (Debian package `prometheus`; scripts/test.sh installs it)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let operator = start_operator_metrics(&runtime);
    let cluster = Cluster::start(3);
    cluster.wait_for_brokers(0, &[0, 1, 2], QUERY_DEADLINE);
    let broker = &cluster.nodes[0];
    make_traffic(broker);
    let targets: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| n.metrics_addr.clone())
        .collect();
    let prom = start_prometheus(&bin, &targets, &operator);
    wait_until(QUERY_DEADLINE, "every target is up", || {
        query(&prom, "up == 1").len() == targets.len() + 1
    });
    // More traffic while Prometheus watches, so rates see a change.
    produce_n(&broker.bootstrap, "observed", 50, 2);
    consume_all(&broker.bootstrap, "observed");

    let mut empty = Vec::new();
    for (title, expr) in dashboard_queries() {
        let expr = substitute(&expr);
        let deadline = Instant::now() + QUERY_DEADLINE;
        loop {
            if !query(&prom, &expr).is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                empty.push(format!("{title}: {expr}"));
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );

    let scraped: BTreeSet<String> = api(&prom, "label/__name__/values")["data"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let rules = alert_rules(&prom);
    assert!(rules.len() >= 7, "rules loaded: {rules:?}");
    let mut missing = Vec::new();
    for (alert, expr, _) in &rules {
        // Evaluates (panics on a PromQL error); empty is expected on a healthy system.
        let _ = query(&prom, expr);
        for name in metric_names(expr) {
            if !scraped.contains(&name) {
                missing.push(format!("{alert}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "alerts reference unscraped metrics: {missing:?}"
    );
    wait_until(QUERY_DEADLINE, "every rule evaluated healthy", || {
        alert_rules(&prom)
            .iter()
            .all(|(_, _, health)| health == "ok")
    });
}

#[test]
fn metric_names_are_found_in_expressions() {
    assert_eq!(
        metric_names(
            "up == 0 and on (job) count by (job) (max_over_time(fjord_active_connections[1h]))"
        ),
        BTreeSet::from(["up".to_owned(), "fjord_active_connections".to_owned()])
    );
}
