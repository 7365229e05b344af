//! The broker's Prometheus endpoint and health probes, observed over HTTP.

use fjord_tests::{
    broker_bin, consume_all, numbered_messages, produce_ok, producer_config, Broker,
};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `GET path` on `addr`; the status code and body, or `None` when nothing answers.
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Every sample of `/metrics` as `name{labels}` -> value.
fn scrape(addr: &str) -> BTreeMap<String, f64> {
    let (status, body) = http_get(addr, "/metrics").expect("metrics endpoint answers");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn sum(samples: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn counters_move_by_what_was_produced_and_consumed() {
    let broker = Broker::start();
    broker.create_topic("metered", 3, &[]);
    let before = scrape(&broker.metrics_addr);
    let msgs = numbered_messages("m", 3000, 3);
    let payload: usize = msgs.iter().map(|m| m.payload.len()).sum();
    produce_ok(
        &producer_config(&broker.bootstrap, "none"),
        "metered",
        &msgs,
    );
    let consumed: usize = consume_all(&broker.bootstrap, "metered")
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(consumed, 3000);

    let after = scrape(&broker.metrics_addr);
    let topic = "{topic=\"metered\"}";
    assert_eq!(after[&format!("fjord_messages_in_total{topic}")], 3000.0);
    let bytes_in = after[&format!("fjord_bytes_in_total{topic}")];
    // Batches carry the payloads plus record and batch framing, never less.
    assert!(
        bytes_in >= payload as f64 && bytes_in < 2.0 * payload as f64 + 10_000.0,
        "{bytes_in} vs {payload}"
    );
    // Every batch was served at least once to the consumer.
    assert!(after[&format!("fjord_bytes_out_total{topic}")] >= bytes_in);
    assert_eq!(
        sum(&after, "fjord_log_end_offset{topic=\"metered\""),
        3000.0
    );
    assert_eq!(sum(&after, "fjord_log_start_offset{topic=\"metered\""), 0.0);
    assert!(sum(&after, "fjord_log_size_bytes{topic=\"metered\"") >= bytes_in);
    let produces = |m: &BTreeMap<String, f64>| {
        m.get("fjord_requests_total{api=\"Produce\"}")
            .copied()
            .unwrap_or(0.0)
    };
    assert!(produces(&after) > produces(&before));
    assert!(after["fjord_request_duration_seconds_count{api=\"Fetch\"}"] > 0.0);
    assert!(after["fjord_active_connections"] >= 0.0);
    assert_eq!(after["fjord_under_replicated_partitions"], 0.0);
    assert!(
        !after
            .keys()
            .any(|k| k.starts_with("fjord_response_errors_total{api=\"Produce\"")),
        "no produce errors expected"
    );
}

#[test]
fn error_codes_are_counted_per_api() {
    let broker = Broker::start_with(&[("auto.create.topics.enable", "false")]);
    let admin = broker.admin();
    let new = rdkafka::admin::NewTopic::new("bad", 0, rdkafka::admin::TopicReplication::Fixed(1));
    let _ = fjord_tests::block_on(admin.create_topics([&new], &fjord_tests::admin_options()));
    let m = scrape(&broker.metrics_addr);
    assert_eq!(
        m.get("fjord_response_errors_total{api=\"CreateTopics\",error=\"INVALID_PARTITIONS\"}"),
        Some(&1.0),
        "{m:?}"
    );
}

/// Reads a child's stderr into a shared string on a background thread.
fn capture(child: &mut std::process::Child) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    log
}

fn field(log: &str, marker: &str, key: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains(marker))?;
    let rest = &line[line.find(&format!("{key}="))? + key.len() + 1..];
    Some(rest.split_whitespace().next()?.to_string())
}

#[test]
fn readyz_says_ready_only_once_kafka_requests_are_served() {
    // A data directory with many partitions and no clean-shutdown marker, so that start-up
    // has real recovery work to do while the probes are polled.
    let mut first = Broker::start_with(&[("num.partitions", "1")]);
    first.create_topic("many", 400, &[]);
    fjord_tests::produce_n(&first.bootstrap, "many", 2000, 400);
    first.kill9();
    let data_dir = first.data_dir.clone();

    let mut child = Command::new(broker_bin())
        .args(["--set", &format!("log.dirs={}", data_dir.display())])
        .args([
            "--set",
            "listeners=PLAINTEXT://127.0.0.1:0",
            "--set",
            "metrics.port=0",
        ])
        .env("FJORD_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start broker");
    let log = capture(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (kafka, metrics) = loop {
        let text = log.lock().unwrap().clone();
        if let (Some(k), Some(m)) = (
            field(&text, "loading logs", "kafka_addr"),
            field(&text, "loading logs", "metrics_addr"),
        ) {
            break (k, m);
        }
        assert!(Instant::now() < deadline, "no `loading logs` line:\n{text}");
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut not_ready = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "never became ready:\n{}",
            log.lock().unwrap()
        );
        match http_get(&metrics, "/readyz") {
            Some((200, _)) => break,
            Some((503, _)) => not_ready += 1,
            other => panic!("unexpected /readyz answer {other:?}"),
        }
        assert_eq!(
            http_get(&metrics, "/livez").map(|r| r.0),
            Some(200),
            "/livez answers while loading"
        );
    }
    // Ready means served: an ApiVersions request on the Kafka port is answered at once.
    let mut s = TcpStream::connect(&kafka).expect("kafka port");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // size, api key 18, version 0, correlation id 7, client id "t"
    s.write_all(&[0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0, 7, 0, 1, b't'])
        .unwrap();
    let mut head = [0u8; 8];
    s.read_exact(&mut head).expect("ApiVersions answered");
    assert_eq!(&head[4..8], &[0, 0, 0, 7]);
    assert!(log.lock().unwrap().contains("broker ready"));
    assert!(
        not_ready > 0,
        "recovering 400 partitions should have been observable as 503"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn group_lag_is_the_high_watermark_minus_the_committed_offset() {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let broker = Broker::start();
    broker.create_topic("lagging", 1, &[]);
    fjord_tests::produce_n(&broker.bootstrap, "lagging", 100, 1);
    let consumer: BaseConsumer = fjord_tests::client_config(&broker.bootstrap)
        .set("group.id", "lag-watchers")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("lagging", 0, Offset::Offset(40))
        .unwrap();
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("commit offset 40");
    drop(consumer);

    let m = scrape(&broker.metrics_addr);
    let labels = "{group=\"lag-watchers\",topic=\"lagging\",partition=\"0\"}";
    assert_eq!(
        m.get(&format!("fjord_group_committed_offset{labels}")),
        Some(&40.0),
        "{m:?}"
    );
    assert_eq!(m.get(&format!("fjord_group_lag{labels}")), Some(&60.0));
    assert!(m["fjord_groups{state=\"Empty\"}"] >= 1.0);
}
