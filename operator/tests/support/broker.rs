//! Starts a real `fjord-broker` process on 127.0.0.1 with port 0 and a temp log dir.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running broker; killed when dropped.
pub struct BrokerProcess {
    /// `host:port` of its Kafka listener.
    pub addr: String,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// `$FJORD_BROKER_BIN`, else `$CARGO_TARGET_DIR/debug/fjord-broker`, else
/// `<workspace>/target/debug/fjord-broker`.
pub fn broker_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FJORD_BROKER_BIN") {
        return bin.into();
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("debug").join("fjord-broker")
}

impl BrokerProcess {
    /// Starts the broker and waits (up to 60 s) for its `broker ready ... kafka_addr=` line.
    pub async fn start() -> BrokerProcess {
        let bin = broker_bin();
        assert!(
            bin.exists(),
            "{} not found: build it with `cargo build -p fjord-broker` or set FJORD_BROKER_BIN",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&bin)
            .args(["--set", "listeners=PLAINTEXT://127.0.0.1:0"])
            .arg("--set")
            .arg(format!("log.dirs={}", dir.path().display()))
            .args(["--set", "metrics.port=0"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let wait_ready = async {
            let mut seen = Vec::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("broker ready") {
                    if let Some(addr) = kafka_addr(&line) {
                        return addr;
                    }
                }
                seen.push(line);
            }
            panic!("broker exited before it was ready:\n{}", seen.join("\n"));
        };
        let addr = tokio::time::timeout(Duration::from_secs(60), wait_ready)
            .await
            .expect("broker did not report `broker ready` within 60 s");
        // Keep draining stderr so the broker never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        BrokerProcess {
            addr,
            _child: child,
            _dir: dir,
        }
    }
}

/// The `kafka_addr=<host:port>` field of a log line (plain, ANSI-coloured or JSON).
fn kafka_addr(line: &str) -> Option<String> {
    let mut clean = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            clean.push(c);
        }
    }
    let rest = ["kafka_addr=", "\"kafka_addr\":"].iter().find_map(|key| {
        clean
            .find(key)
            .map(|at| clean[at + key.len()..].to_string())
    })?;
    let value: String = rest
        .trim_start_matches('"')
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',')
        .collect();
    (!value.is_empty()).then_some(value)
}
