//! A real `fjord-broker` process per test: start, stop, kill -9, restart, its log.

use crate::{admin_options, block_on, client_config, wait_for_partitions};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

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
    /// Open-file limit (soft and hard) the process is started with, through `prlimit`;
    /// tests may raise it on the running process with [`Broker::set_nofile`].
    nofile: Option<u64>,
    /// Where the log of the process started last begins.
    run_start: usize,
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
        Broker::start_with_options(settings, None, None)
    }

    /// Like [`Broker::start_with`], with the open-file limit (`RLIMIT_NOFILE`, soft and hard)
    /// set to `nofile` for this and every later start (run through `prlimit`).
    pub fn start_limited(settings: &[(&str, &str)], nofile: Option<u64>) -> Broker {
        Broker::start_with_options(settings, None, nofile)
    }

    /// Like [`Broker::start_with`], on `data_dir` if given (created if missing, not removed
    /// on drop: e.g. a small filesystem the test mounted) and under an open-files limit if
    /// given (see [`Broker::set_nofile`]).
    pub fn start_with_options(
        settings: &[(&str, &str)],
        data_dir: Option<PathBuf>,
        nofile: Option<u64>,
    ) -> Broker {
        let mut broker = Broker::unstarted(settings, data_dir, nofile);
        broker.spawn();
        broker
    }

    fn unstarted(
        settings: &[(&str, &str)],
        data_dir: Option<PathBuf>,
        nofile: Option<u64>,
    ) -> Broker {
        let tmp = tempfile::Builder::new()
            .prefix("fjord-test-")
            .tempdir()
            .expect("create temp dir");
        let data_dir = data_dir.unwrap_or_else(|| tmp.path().join("data"));
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        Broker {
            nofile,
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
            run_start: 0,
            _tmp: tmp,
        }
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

    /// The open-files limit of the next start (`None`: inherited). The running process
    /// keeps its limit; change that with `prlimit --pid`.
    pub fn set_nofile(&mut self, limit: Option<u64>) {
        self.nofile = limit;
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
        self.launch();
        self.wait_ready();
    }

    /// Starts a broker on a fresh temporary data directory without waiting until it is
    /// ready (brokers of a cluster only become ready together): call
    /// [`Broker::wait_ready`].
    pub fn launch_with(settings: &[(&str, &str)]) -> Broker {
        let mut broker = Broker::unstarted(settings, None, None);
        broker.launch();
        broker
    }

    /// Starts the process again on the same data directory without waiting until it is
    /// ready.
    pub fn launch_again(&mut self) {
        assert!(
            !self.is_running(),
            "launch_again: the broker is still running"
        );
        self.launch();
    }

    /// Spawns the process.
    fn launch(&mut self) {
        let bin = broker_bin();
        assert!(
            bin.exists(),
            "broker binary {} does not exist: run `cargo build -p fjord-broker` or set FJORD_BROKER_BIN",
            bin.display()
        );
        let mut cmd = match self.nofile {
            // prlimit execs the broker: the pid stays the broker's. Soft and hard: the broker
            // raises its soft limit to the hard one at start.
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        for (k, v) in self.settings() {
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("RUST_LOG_STYLE");
        self.run_start = self.log.len();
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
    }

    /// Waits until the process started last logs `broker ready` (a controller-only node:
    /// `controller ready`), and reads its addresses. A controller-only node's `bootstrap`
    /// is its controller listener, which speaks no Kafka protocol.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let log = self.log.snapshot();
            let this_run = &log[self.run_start..];
            let ready = |l: &&str| l.contains("broker ready") || l.contains("controller ready");
            if let Some(line) = this_run.lines().find(ready) {
                self.bootstrap = field(line, "kafka_addr=")
                    .or_else(|| field(line, "controller_addr="))
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

/// Starts `fjord-broker` on `data_dir` (a plaintext listener on a free port, no metrics port,
/// then `settings`, which win), expects it to exit with an error before it is ready, and
/// returns what it printed. Panics if it becomes ready or is still running after
/// [`READY_TIMEOUT`].
pub fn start_must_fail(data_dir: &Path, settings: &[(&str, &str)]) -> String {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let mut cmd = Command::new(broker_bin());
    cmd.arg("--set")
        .arg(format!("log.dirs={}", data_dir.display()))
        .arg("--set")
        .arg("listeners=PLAINTEXT://127.0.0.1:0")
        .arg("--set")
        .arg("metrics.port=0");
    for (k, v) in settings {
        cmd.arg("--set").arg(format!("{k}={v}"));
    }
    cmd.stdin(Stdio::null())
        .stdout(out.reopen().expect("reopen"))
        .stderr(out.reopen().expect("reopen"));
    let mut child = cmd.spawn().expect("spawn fjord-broker");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let printed = std::fs::read_to_string(out.path()).unwrap_or_default();
        match child.try_wait() {
            Ok(Some(status)) => {
                let printed = std::fs::read_to_string(out.path()).unwrap_or_default();
                assert!(!status.success(), "the broker exited 0:\n{printed}");
                return printed;
            }
            Ok(None) if printed.contains("broker ready") || Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the broker started (or hung) instead of refusing:\n{printed}");
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("wait: {e}"),
        }
    }
}
