//! The one shared helper module for Fjord's end-to-end tests.
//!
//! [`Broker`] runs a real `fjord-broker` process on 127.0.0.1 with port 0 for both the Kafka
//! listener and the metrics endpoint, and a temporary data directory. Its stderr is captured on a
//! background thread (so the pipe never fills) and is available through [`Broker::log`]. The
//! rest of the module holds small helpers for the `rdkafka` crate (config builders, producing with
//! delivery reports, consuming assigned partitions) and for raw Kafka protocol requests.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// How long a broker may take to log `broker ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a clean shutdown (SIGTERM) may take.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Generous deadline for client operations in tests (metadata, delivery, consumption).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The `fjord-broker` binary: `$FJORD_BROKER_BIN`, else `$CARGO_TARGET_DIR/debug/fjord-broker`,
/// else `<workspace>/target/debug/fjord-broker`.
pub fn broker_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FJORD_BROKER_BIN") {
        return PathBuf::from(bin);
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    };
    target.join("debug").join("fjord-broker")
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Everything the broker wrote to stderr and stdout, shared with the reader threads.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<String>>);

impl LogBuf {
    fn push_line(&self, line: &str) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.push_str(line);
        if !line.ends_with('\n') {
            log.push('\n');
        }
    }
    fn snapshot(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A running (or stopped) `fjord-broker` process with its own data directory.
pub struct Broker {
    /// `host:port` of the Kafka listener of the current process (changes on every start).
    pub bootstrap: String,
    /// `host:port` of the metrics HTTP endpoint of the current process.
    pub metrics_addr: String,
    /// The broker's `log.dirs`; kept across restarts, removed on drop.
    pub data_dir: PathBuf,
    child: Option<Child>,
    log: LogBuf,
    readers: Vec<thread::JoinHandle<()>>,
    settings: Vec<(String, String)>,
    _tmp: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker on a fresh temporary data directory, port 0 for Kafka and metrics.
    pub fn start() -> Broker {
        Broker::start_with(&[])
    }

    /// Like [`Broker::start`], with extra `--set key=value` settings (they come after, and so
    /// override, the defaults this helper passes).
    pub fn start_with(settings: &[(&str, &str)]) -> Broker {
        let tmp = tempfile::Builder::new()
            .prefix("fjord-test-")
            .tempdir()
            .expect("create temp dir");
        let data_dir = tmp.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        let mut broker = Broker {
            bootstrap: String::new(),
            metrics_addr: String::new(),
            data_dir,
            child: None,
            log: LogBuf::default(),
            readers: Vec::new(),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _tmp: tmp,
        };
        broker.spawn();
        broker
    }

    /// Starts the broker again on the same data directory after [`Broker::stop`] or
    /// [`Broker::kill9`]. The ports are new: read `bootstrap` again.
    pub fn start_again(&mut self) {
        assert!(
            !self.is_running(),
            "start_again: the broker is still running"
        );
        self.spawn();
    }

    /// Stops the broker (SIGTERM) if it is running, then starts it on the same data directory.
    pub fn restart(&mut self) {
        if self.is_running() {
            self.stop();
        }
        self.spawn();
    }

    /// Sends SIGTERM and waits for the process to exit; asserts it exited with status 0.
    pub fn stop(&mut self) {
        let status = self.signal_and_wait(nix::sys::signal::Signal::SIGTERM, STOP_TIMEOUT);
        assert!(
            status.success(),
            "broker exited with {status} after SIGTERM; log:\n{}",
            self.log()
        );
    }

    /// Sends SIGKILL and waits for the process to exit.
    pub fn kill9(&mut self) {
        self.signal_and_wait(nix::sys::signal::Signal::SIGKILL, STOP_TIMEOUT);
    }

    /// Everything the broker processes of this data directory wrote so far (stderr and stdout,
    /// all starts, each start introduced by a `=== fjord-test: start ...` line).
    pub fn log(&self) -> String {
        self.log.snapshot()
    }

    /// The pid of the running process, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether a broker process is running (started and not yet exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The running process's resident set size in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The settings this broker is started with, as `(key, value)` pairs (defaults first).
    pub fn settings(&self) -> Vec<(String, String)> {
        let mut all = vec![
            ("log.dirs".to_string(), self.data_dir.display().to_string()),
            (
                "listeners".to_string(),
                "PLAINTEXT://127.0.0.1:0".to_string(),
            ),
            ("metrics.port".to_string(), "0".to_string()),
        ];
        all.extend(self.settings.iter().cloned());
        all
    }

    /// An rdkafka config with `bootstrap.servers` set to this broker.
    pub fn client_config(&self) -> ClientConfig {
        client_config(&self.bootstrap)
    }

    /// An rdkafka admin client for this broker.
    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.client_config()
            .create()
            .expect("create rdkafka admin client")
    }

    /// Creates a topic with `partitions` partitions (replication factor 1) and waits until the
    /// broker's metadata lists all of them.
    pub fn create_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
        let admin = self.admin();
        let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            new_topic = new_topic.set(k, v);
        }
        let results = block_on(admin.create_topics([&new_topic], &admin_options()))
            .expect("CreateTopics request");
        for r in results {
            if let Err((name, code)) = r {
                panic!("creating topic {name} failed: {code:?}");
            }
        }
        wait_for_partitions(&self.bootstrap, topic, partitions as usize);
    }

    fn spawn(&mut self) {
        let bin = broker_bin();
        assert!(
            bin.exists(),
            "broker binary {} does not exist: run `cargo build -p fjord-broker` or set FJORD_BROKER_BIN",
            bin.display()
        );
        let mut cmd = Command::new(&bin);
        for (k, v) in self.settings() {
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("RUST_LOG_STYLE");
        let start_of_this_run = self.log.len();
        self.log.push_line(&format!(
            "=== fjord-test: start {} {:?}",
            bin.display(),
            cmd
        ));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let stdout = child.stdout.take().expect("piped stdout");
        self.readers.push(spawn_reader(stderr, self.log.clone()));
        self.readers.push(spawn_reader(stdout, self.log.clone()));
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let log = self.log.snapshot();
            let this_run = &log[start_of_this_run..];
            if let Some(line) = this_run.lines().find(|l| l.contains("broker ready")) {
                self.bootstrap = field(line, "kafka_addr=")
                    .unwrap_or_else(|| panic!("no kafka_addr= in ready line: {line}"));
                self.metrics_addr = field(line, "metrics_addr=")
                    .unwrap_or_else(|| panic!("no metrics_addr= in ready line: {line}"));
                return;
            }
            let child = self.child.as_mut().expect("child");
            if let Ok(Some(status)) = child.try_wait() {
                self.join_readers();
                self.child = None;
                panic!(
                    "broker exited with {status} before it was ready; log:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                panic!("broker did not log `broker ready` within {READY_TIMEOUT:?}; log:\n{log}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal_and_wait(
        &mut self,
        signal: nix::sys::signal::Signal,
        timeout: Duration,
    ) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("{signal}: the broker is not running"));
        if let Ok(None) = child.try_wait() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, signal).unwrap_or_else(|e| panic!("kill {signal}: {e}"));
        }
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    self.join_readers();
                    panic!(
                        "broker did not exit within {timeout:?} after {signal}; log:\n{}",
                        self.log()
                    );
                }
                Err(e) => panic!("wait for broker: {e}"),
            }
        };
        self.join_readers();
        self.log.push_line(&format!(
            "=== fjord-test: broker exited with {status} after {signal}"
        ));
        status
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.join_readers();
        if thread::panicking() || std::env::var_os("FJORD_TEST_SHOW_LOG").is_some() {
            eprintln!("----- fjord-broker log -----\n{}", self.log());
        }
    }
}

fn spawn_reader(stream: impl Read + Send + 'static, log: LogBuf) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => log.push_line(&String::from_utf8_lossy(&line)),
            }
        }
    })
}

/// The value after `key` up to the next whitespace.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Polls `cond` every 20 ms until it returns true; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a future to completion on the current thread (rdkafka's admin futures need no runtime).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// Admin options with a generous request timeout.
pub fn admin_options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(CLIENT_TIMEOUT))
}

// ---------------------------------------------------------------------------------------------
// rdkafka helpers
// ---------------------------------------------------------------------------------------------

/// An rdkafka config with `bootstrap.servers` and IPv4 only.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    cfg
}

/// A producer config: `acks=all`, a short linger, the given compression codec
/// (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
pub fn producer_config(bootstrap: &str, compression: &str) -> ClientConfig {
    let mut cfg = client_config(bootstrap);
    cfg.set("acks", "all")
        .set("compression.type", compression)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000");
    cfg
}

/// A consumer config for assigned partitions: librdkafka needs a `group.id` to `assign()`, but
/// nothing is subscribed or committed.
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut cfg = client_config(bootstrap);
    cfg.set("group.id", "fjord-tests-assigned")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .set("check.crcs", "true");
    cfg
}

/// One message handed to the producer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Outgoing {
    /// A keyed message for a given partition.
    pub fn new(partition: i32, key: impl Into<Vec<u8>>, payload: impl Into<Vec<u8>>) -> Self {
        Outgoing {
            partition: Some(partition),
            key: Some(key.into()),
            payload: payload.into(),
            timestamp: None,
            headers: Vec::new(),
        }
    }
}

/// The outcome of one produced message, from its delivery report.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Index of the message in the order it was handed to the producer.
    pub seq: usize,
    /// `(partition, offset)` on success.
    pub result: Result<(i32, i64), KafkaError>,
}

/// A producer context that records every delivery report, tagged by the message's sequence
/// number (the delivery opaque).
#[derive(Clone, Default)]
pub struct DeliveryCollector {
    reports: Arc<Mutex<Vec<Delivery>>>,
}

impl DeliveryCollector {
    /// All reports received so far.
    pub fn reports(&self) -> Vec<Delivery> {
        self.reports.lock().unwrap().clone()
    }
    /// Number of reports received so far.
    pub fn count(&self) -> usize {
        self.reports.lock().unwrap().len()
    }
    /// Number of successful reports so far.
    pub fn acked(&self) -> usize {
        self.reports
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.result.is_ok())
            .count()
    }
}

impl ClientContext for DeliveryCollector {}

impl ProducerContext for DeliveryCollector {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Self::DeliveryOpaque) {
        let result = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.clone()),
        };
        self.reports
            .lock()
            .unwrap()
            .push(Delivery { seq: *seq, result });
    }
}

/// A producer that records delivery reports in a [`DeliveryCollector`].
pub type CollectingProducer = ThreadedProducer<DeliveryCollector>;

/// Creates a [`CollectingProducer`] from `cfg`.
pub fn collecting_producer(cfg: &ClientConfig) -> (CollectingProducer, DeliveryCollector) {
    let collector = DeliveryCollector::default();
    let producer = cfg
        .create_with_context(collector.clone())
        .expect("create producer");
    (producer, collector)
}

/// Enqueues one message (retrying while the local queue is full). `seq` comes back in the
/// delivery report.
pub fn send(producer: &CollectingProducer, topic: &str, seq: usize, msg: &Outgoing) {
    let mut headers = OwnedHeaders::new();
    for (k, v) in &msg.headers {
        headers = headers.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    let mut record: BaseRecord<'_, [u8], [u8], Box<usize>> =
        BaseRecord::with_opaque_to(topic, Box::new(seq)).payload(&msg.payload[..]);
    if let Some(k) = &msg.key {
        record = record.key(&k[..]);
    }
    if let Some(p) = msg.partition {
        record = record.partition(p);
    }
    if let Some(ts) = msg.timestamp {
        record = record.timestamp(ts);
    }
    if !msg.headers.is_empty() {
        record = record.headers(headers);
    }
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((
                KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                r,
            )) if Instant::now() < deadline => {
                record = r;
                thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => panic!("enqueue message {seq} to {topic}: {e}"),
        }
    }
}

/// Produces every message of `msgs` to `topic`, waits for all delivery reports and returns them
/// indexed by position in `msgs`.
pub fn produce_all(cfg: &ClientConfig, topic: &str, msgs: &[Outgoing]) -> Vec<Delivery> {
    let (producer, collector) = collecting_producer(cfg);
    for (i, m) in msgs.iter().enumerate() {
        send(&producer, topic, i, m);
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush producer");
    wait_until(CLIENT_TIMEOUT, "all delivery reports", || {
        collector.count() == msgs.len()
    });
    let mut reports = collector.reports();
    reports.sort_by_key(|d| d.seq);
    reports
}

/// Produces `msgs` and panics unless every message was acknowledged; returns
/// `(partition, offset)` per message.
pub fn produce_ok(cfg: &ClientConfig, topic: &str, msgs: &[Outgoing]) -> Vec<(i32, i64)> {
    produce_all(cfg, topic, msgs)
        .into_iter()
        .map(|d| {
            d.result
                .unwrap_or_else(|e| panic!("message {} to {topic} not delivered: {e}", d.seq))
        })
        .collect()
}

/// `n` messages with keys `key-<i>` and payloads `<topic>-<i>-<padding>`, spread round-robin
/// over `partitions` partitions; returns their `(partition, offset)`.
pub fn produce_n(bootstrap: &str, topic: &str, n: usize, partitions: i32) -> Vec<(i32, i64)> {
    let msgs = numbered_messages(topic, n, partitions);
    produce_ok(&producer_config(bootstrap, "none"), topic, &msgs)
}

/// `n` numbered messages spread round-robin over `partitions` partitions.
pub fn numbered_messages(prefix: &str, n: usize, partitions: i32) -> Vec<Outgoing> {
    (0..n)
        .map(|i| {
            Outgoing::new(
                (i % partitions as usize) as i32,
                format!("key-{i}"),
                format!("{prefix}-{i}-{}", "x".repeat(i % 50)),
            )
        })
        .collect()
}

/// One consumed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads partitions of `topic` with an assigned consumer (no group) from the given start offset
/// up to (excluding) the given end offset. Panics on any consumer error, on a record past the
/// end, or if the end is not reached within [`CLIENT_TIMEOUT`]. Returns the records per
/// partition in the order received.
pub fn consume_range(
    bootstrap: &str,
    topic: &str,
    ranges: &BTreeMap<i32, (i64, i64)>,
) -> BTreeMap<i32, Vec<Consumed>> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create consumer");
    let mut tpl = TopicPartitionList::new();
    let mut out: BTreeMap<i32, Vec<Consumed>> = BTreeMap::new();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (&p, &(start, end)) in ranges {
        out.insert(p, Vec::new());
        if end > start {
            tpl.add_partition_offset(topic, p, Offset::Offset(start))
                .expect("add partition");
        }
        next.insert(p, start);
    }
    consumer.assign(&tpl).expect("assign");
    let done = |next: &BTreeMap<i32, i64>| next.iter().all(|(p, n)| *n >= ranges[p].1);
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while !done(&next) {
        assert!(
            Instant::now() < deadline,
            "consuming {topic}: timed out; reached {next:?}, wanted {ranges:?}"
        );
        let Some(res) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = res.unwrap_or_else(|e| panic!("consumer error on {topic}: {e}"));
        let p = m.partition();
        let end = ranges.get(&p).map(|r| r.1).expect("partition assigned");
        assert!(
            m.offset() < end,
            "{topic}/{p}: got offset {} past the end {end}",
            m.offset()
        );
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        out.get_mut(&p).unwrap().push(Consumed {
            partition: p,
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            timestamp: m.timestamp().to_millis(),
            headers,
        });
        next.insert(p, m.offset() + 1);
    }
    out
}

/// Reads every partition of `topic` from its low to its high watermark.
pub fn consume_all(bootstrap: &str, topic: &str) -> BTreeMap<i32, Vec<Consumed>> {
    let ranges = watermarks(bootstrap, topic);
    consume_range(bootstrap, topic, &ranges)
}

/// `(low, high)` watermarks of every partition of `topic` (ListOffsets earliest and latest).
pub fn watermarks(bootstrap: &str, topic: &str) -> BTreeMap<i32, (i64, i64)> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create consumer");
    let n = partition_count(&consumer, topic)
        .unwrap_or_else(|| panic!("topic {topic} not in metadata"));
    (0..n as i32)
        .map(|p| {
            let wm = consumer
                .fetch_watermarks(topic, p, CLIENT_TIMEOUT)
                .unwrap_or_else(|e| panic!("watermarks {topic}/{p}: {e}"));
            (p, wm)
        })
        .collect()
}

/// Number of partitions of `topic` in the broker's metadata, or `None` if it is not listed.
pub fn partition_count<C: Consumer>(client: &C, topic: &str) -> Option<usize> {
    let md = client
        .fetch_metadata(Some(topic), CLIENT_TIMEOUT)
        .expect("fetch metadata");
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() {
        return None;
    }
    Some(t.partitions().len())
}

/// Names of all topics in the broker's metadata.
pub fn topic_names(bootstrap: &str) -> Vec<String> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create consumer");
    let md = consumer
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .expect("fetch metadata");
    let mut names: Vec<String> = md.topics().iter().map(|t| t.name().to_string()).collect();
    names.sort();
    names
}

/// Waits until the metadata lists `topic` with exactly `partitions` partitions.
pub fn wait_for_partitions(bootstrap: &str, topic: &str, partitions: usize) {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("create consumer");
    wait_until(
        CLIENT_TIMEOUT,
        &format!("{topic} has {partitions} partitions"),
        || partition_count(&consumer, topic) == Some(partitions),
    );
}

// ---------------------------------------------------------------------------------------------
// Raw Kafka protocol
// ---------------------------------------------------------------------------------------------

/// A raw TCP connection speaking Kafka's framing, for requests real clients never send.
pub struct RawConn {
    pub stream: TcpStream,
    next_correlation_id: i32,
}

impl RawConn {
    /// Connects with 30 s read and write timeouts.
    pub fn connect(bootstrap: &str) -> RawConn {
        let stream =
            TcpStream::connect(bootstrap).unwrap_or_else(|e| panic!("connect {bootstrap}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .expect("set write timeout");
        RawConn {
            stream,
            next_correlation_id: 1,
        }
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Sends a frame: a 4-byte big-endian length then `payload`.
    pub fn send_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(payload.len() + 4);
        buf.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        buf.extend_from_slice(payload);
        self.write_raw(&buf)
    }

    /// Sends a request with a correct header for `api_key`/`version` and `body` as encoded
    /// bytes; returns the correlation id.
    pub fn send_raw_request(&mut self, api_key: i16, version: i16, body: &[u8]) -> i32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut buf = BytesMut::new();
        let header_version = ApiKey::try_from(api_key)
            .map(|k| k.request_header_version(version))
            .unwrap_or(1);
        let header = RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord-tests-raw")));
        header
            .encode(&mut buf, header_version)
            .expect("encode header");
        buf.put_slice(body);
        self.send_frame(&buf)
            .unwrap_or_else(|e| panic!("send request: {e}"));
        correlation_id
    }

    /// Encodes and sends a typed request; returns the correlation id.
    pub fn send_request<R: Encodable + HeaderVersion>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &R,
    ) -> i32 {
        let mut body = BytesMut::new();
        request.encode(&mut body, version).expect("encode request");
        self.send_raw_request(api_key as i16, version, &body)
    }

    /// Reads one response frame; `Err` on disconnect or timeout.
    pub fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if !(0..=256 << 20).contains(&len) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("response frame length {len}"),
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.stream.read_exact(&mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Reads one response, checks its correlation id and returns the body after the header
    /// (`header_version` is the response header version: 0, or 1 for flexible versions).
    pub fn read_response_body(
        &mut self,
        correlation_id: i32,
        header_version: i16,
    ) -> std::io::Result<Bytes> {
        let mut frame = self.read_frame()?;
        let header = ResponseHeader::decode(&mut frame, header_version)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")))?;
        assert_eq!(
            header.correlation_id, correlation_id,
            "response correlation id"
        );
        Ok(frame)
    }

    /// Sends a typed request and decodes the typed response.
    pub fn request<Req, Resp>(&mut self, api_key: ApiKey, version: i16, request: &Req) -> Resp
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable,
    {
        let cid = self.send_request(api_key, version, request);
        let mut body = self
            .read_response_body(cid, api_key.response_header_version(version))
            .unwrap_or_else(|e| panic!("read {api_key:?} v{version} response: {e}"));
        let resp = Resp::decode(&mut body, version)
            .unwrap_or_else(|e| panic!("decode {api_key:?} v{version} response: {e:?}"));
        assert_eq!(
            body.remaining(),
            0,
            "{api_key:?} v{version} response has trailing bytes"
        );
        resp
    }

    /// True if the broker closed the connection (read returns EOF or a reset) within `timeout`.
    /// Any bytes received before the close are returned in `Err`.
    pub fn closed_within(&mut self, timeout: Duration) -> Result<(), Vec<u8>> {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return if got.is_empty() { Ok(()) } else { Err(got) },
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(got);
                }
                Err(_) => return Ok(()),
            }
        }
    }
}

/// A valid record batch v2 of `count` records (`raw-key-i` / `raw-value-i`), as a
/// producer without idempotence would send it, for raw-protocol Produce requests.
pub fn record_batch(count: i64) -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            // offset - sequence constant keeps the records in one batch; base sequence -1.
            sequence: i as i32 - 1,
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(format!("raw-key-{i}"))),
            value: Some(Bytes::from(format!("raw-value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}
