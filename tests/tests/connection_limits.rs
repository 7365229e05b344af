//! What one client, or a few, can make the broker hold: request memory (frames read
//! incrementally within `queued.max.request.bytes`) and connections per IP address.

use fjord_tests::{consume_all, produce_n, wait_until, Broker, RawConn};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

const SENDING: u8 = 0;
const SENT: u8 = 1;
const STALLED: u8 = 2;

/// Connects, claims a `frame`-byte request, sends `payload` of it, then holds the socket open
/// until `hold` is dropped. `state` ends SENT, or STALLED once the broker stopped reading.
fn half_frame_sender(
    bootstrap: String,
    frame: usize,
    payload: Arc<Vec<u8>>,
    state: Arc<AtomicU8>,
    hold: mpsc::Receiver<()>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut s = TcpStream::connect(&bootstrap).expect("connect");
        s.set_write_timeout(Some(Duration::from_secs(2)))
            .expect("write timeout");
        s.write_all(&(frame as i32).to_be_bytes())
            .expect("write length");
        let mut sent = 0;
        while sent < payload.len() {
            match s.write(&payload[sent..]) {
                Ok(n) => sent += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    // The broker is not reading this connection: TCP pushes back.
                    let _ = state.compare_exchange(
                        SENDING,
                        STALLED,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                    if hold.try_recv() != Err(mpsc::TryRecvError::Empty) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        state.store(SENT, Ordering::SeqCst);
        let _ = hold.recv();
    })
}

#[test]
fn stalled_half_sent_large_frames_hold_little_memory_and_clients_keep_working() {
    const FRAME: usize = 99_000_000;
    const CONNECTIONS: usize = 10;
    let broker = Broker::start();
    broker.create_topic("alive", 1, &[]);
    let payload = Arc::new(vec![7u8; FRAME / 2]);
    let mut holds = Vec::new();
    let mut states = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..CONNECTIONS {
        let (tx, rx) = mpsc::channel();
        let state = Arc::new(AtomicU8::new(SENDING));
        threads.push(half_frame_sender(
            broker.bootstrap.clone(),
            FRAME,
            payload.clone(),
            state.clone(),
            rx,
        ));
        holds.push(tx);
        states.push(state);
    }
    wait_until(
        Duration::from_secs(120),
        "every connection sent its half frame or was stalled by the broker",
        || states.iter().all(|s| s.load(Ordering::SeqCst) != SENDING),
    );
    let sent = states
        .iter()
        .filter(|s| s.load(Ordering::SeqCst) == SENT)
        .count();
    let rss_mib = broker.rss_kib().expect("broker VmRSS") / 1024;
    // Unbounded, the broker would buffer ten half frames: about 500 MB.
    assert!(
        rss_mib < 300,
        "broker RSS {rss_mib} MiB with {sent} of {CONNECTIONS} half frames read"
    );
    assert!(
        sent < CONNECTIONS,
        "queued.max.request.bytes held some back"
    );

    // Small requests still fit in what is left of the budget.
    produce_n(&broker.bootstrap, "alive", 20, 1);
    let got = consume_all(&broker.bootstrap, "alive");
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 20);

    drop(holds);
    drop(broker);
    for t in threads {
        let _ = t.join();
    }
}

/// Whether a new connection from this address is served (ApiVersions answered).
fn served(bootstrap: &str) -> Option<RawConn> {
    let mut conn = RawConn::connect(bootstrap);
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    conn.send_request(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    conn.read_frame().ok()?;
    Some(conn)
}

/// True if the broker closed `conn` (EOF or reset) rather than leaving it waiting.
fn closed(conn: &mut RawConn) -> bool {
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut buf = [0u8; 16];
    match conn.stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn connections_over_max_connections_per_ip_are_closed_at_accept() {
    let broker = Broker::start_with(&[("max.connections.per.ip", "2")]);
    let first = served(&broker.bootstrap).expect("first connection served");
    let _second = served(&broker.bootstrap).expect("second connection served");
    let mut third = RawConn::connect(&broker.bootstrap);
    assert!(closed(&mut third), "the third connection is closed");
    // The broker's stderr reaches the test through a reader thread: poll, don't race it.
    wait_until(Duration::from_secs(10), "the refusal is logged", || {
        broker
            .log()
            .contains("closing connection: max.connections.per.ip reached")
    });
    // A closed connection frees its place.
    drop(first);
    let mut again = None;
    wait_until(Duration::from_secs(30), "a place is free again", || {
        again = served(&broker.bootstrap);
        again.is_some()
    });
}

#[test]
fn max_connections_per_ip_overrides_set_the_limit_for_one_address() {
    let broker = Broker::start_with(&[
        ("max.connections.per.ip", "1"),
        ("max.connections.per.ip.overrides", "127.0.0.1:3"),
    ]);
    let open: Vec<RawConn> = (0..3)
        .map(|i| served(&broker.bootstrap).unwrap_or_else(|| panic!("connection {i} served")))
        .collect();
    let mut fourth = RawConn::connect(&broker.bootstrap);
    assert!(closed(&mut fourth), "the fourth connection is closed");
    drop(open);
}
