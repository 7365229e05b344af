//! File descriptors: the broker raises its soft open-file limit at start, and at the limit it
//! closes new clients cleanly instead of leaving them to time out.
//!
//! The first test lowers this test process's own soft limit so the broker inherits it; brokers
//! started by other tests of this file inherit it too, which is harmless since they raise it.

use fjord_tests::{wait_until, Broker, RawConn};
use kafka_protocol::messages::ApiVersionsRequest;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::io::{ErrorKind, Read};
use std::process::Command;
use std::time::Duration;

/// `(soft, hard)` of "Max open files" in `/proc/<pid>/limits`.
fn open_files_limit(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().expect("soft").to_string(),
        fields.next().expect("hard").to_string(),
    )
}

#[test]
fn the_broker_raises_its_soft_open_file_limit_to_the_hard_limit() {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let low = 256.min(hard);
    assert!(hard > low, "needs a hard limit above {low} (it is {hard})");
    setrlimit(Resource::RLIMIT_NOFILE, low, hard).expect("lower the soft limit");
    let broker = Broker::start();
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).expect("restore the soft limit");
    let pid = broker.pid().expect("pid");
    let (broker_soft, broker_hard) = open_files_limit(pid);
    assert_eq!(broker_hard, hard.to_string());
    assert_eq!(
        broker_soft, broker_hard,
        "soft limit raised to the hard limit"
    );
    assert!(broker.log().contains("raised the open-file limit"));
}

enum Outcome {
    Served,
    Closed,
    TimedOut,
}

/// Connects and sends ApiVersions: answered, closed by the broker, or left hanging.
fn try_request(bootstrap: &str) -> (Outcome, RawConn) {
    let mut conn = RawConn::connect(bootstrap);
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut body = bytes::BytesMut::new();
    kafka_protocol::protocol::Encodable::encode(&ApiVersionsRequest::default(), &mut body, 0)
        .expect("encode");
    let mut frame = Vec::new();
    // ApiVersions (18) v0, correlation id 1, null client id.
    let header = [0u8, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
    frame.extend_from_slice(&((header.len() + body.len()) as i32).to_be_bytes());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(&body);
    // A shed connection may already be reset: then writing fails and reading tells.
    let _ = std::io::Write::write_all(&mut conn.stream, &frame);
    let mut buf = [0u8; 4];
    let outcome = match conn.stream.read(&mut buf) {
        Ok(0) => Outcome::Closed,
        Ok(_) => Outcome::Served,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Outcome::TimedOut
        }
        Err(_) => Outcome::Closed,
    };
    (outcome, conn)
}

#[test]
fn at_the_descriptor_limit_new_clients_are_closed_not_left_waiting() {
    let broker = Broker::start();
    let pid = broker.pid().expect("pid");
    let in_use = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count();
    let limit = in_use + 6;
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit failed");

    let mut open = Vec::new();
    let (mut served, mut closed) = (0, 0);
    for _ in 0..20 {
        let (outcome, conn) = try_request(&broker.bootstrap);
        match outcome {
            Outcome::Served => served += 1,
            Outcome::Closed => closed += 1,
            Outcome::TimedOut => panic!(
                "a client was left waiting at the descriptor limit ({served} served, {closed} closed)"
            ),
        }
        open.push(conn);
    }
    assert!(served > 0, "some clients fit under the limit");
    assert!(closed > 0, "the rest were closed");
    wait_until(Duration::from_secs(10), "the broker says why", || {
        broker.log().contains("accept failed")
    });

    // Once clients leave, new ones are served again.
    drop(open);
    wait_until(Duration::from_secs(30), "a new client is served", || {
        matches!(try_request(&broker.bootstrap).0, Outcome::Served)
    });
}
