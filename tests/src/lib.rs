//! The one shared helper module for Fjord's end-to-end tests.
//!
//! [`Broker`] runs a real `fjord-broker` process on 127.0.0.1 with port 0 for both the Kafka
//! listener and the metrics endpoint, and a temporary data directory. Its stderr is captured on a
//! background thread (so the pipe never fills) and is available through [`Broker::log`]. The
//! rest of the module holds small helpers for the `rdkafka` crate (config builders, producing with
//! delivery reports, consuming assigned partitions) and for raw Kafka protocol requests.

mod broker;
mod clients;
mod cluster;
mod raw;

pub use broker::*;
pub use clients::*;
pub use cluster::*;
pub use raw::*;
pub mod security;

use rdkafka::admin::AdminOptions;
use std::thread;
use std::time::{Duration, Instant};

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

/// One sample of an unlabelled metric from a broker's `/metrics` (panics if it is missing).
pub fn gauge(metrics_addr: &str, metric: &str) -> f64 {
    let text = metrics_text(metrics_addr);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{metric} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{metric} missing from /metrics:\n{text}"))
}

/// A broker's whole `/metrics` page.
pub fn metrics_text(metrics_addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(metrics_addr).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read metrics");
    text
}

/// Runs a future to completion on the current thread (rdkafka's admin futures need no runtime).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// Admin options with a generous request timeout.
pub fn admin_options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(CLIENT_TIMEOUT))
}

/// Waits until the plaintext broker at `bootstrap` serves group requests: ListGroups answers
/// without COORDINATOR_LOAD_IN_PROGRESS (a coordinator loads its `__consumer_offsets`
/// partitions after it becomes their leader; clients retry meanwhile, raw-protocol tests
/// wait here instead).
pub fn wait_for_group_coordinator(bootstrap: &str) {
    use kafka_protocol::messages::{ApiKey, ListGroupsRequest, ListGroupsResponse};
    const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    let mut conn = RawConn::connect(bootstrap);
    wait_until(CLIENT_TIMEOUT, "the group coordinator loaded", || {
        let resp: ListGroupsResponse =
            conn.request(ApiKey::ListGroups, 4, &ListGroupsRequest::default());
        resp.error_code != COORDINATOR_LOAD_IN_PROGRESS
    });
}
