//! A network the test controls: a TCP proxy in front of every listener of every node, which
//! can cut one node off from its peers while clients still reach it.
//!
//! Each proxy knows the node it leads to and learns who is calling from the first frame of
//! a connection: on a Kafka listener a broker's replica fetcher names itself in its client
//! id (`fjord-replica-fetcher-<id>`), anything else is a client; on a controller listener
//! the envelope names its sender (`"from":<id>`). While node `n` is isolated, no connection
//! from `n` to a peer and none from a peer to `n` is carried; those open at that moment are
//! closed. Clients are never cut, so a client keeps talking to the isolated node.

use std::collections::{BTreeSet, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The protocol a proxied listener speaks, which says how a caller is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Kafka,
    Controller,
}

/// Where a connection comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Client,
    /// A node; `None` when it did not say which (a peer all the same).
    Node(Option<i32>),
}

/// How much of a first frame is read to recognise its caller (the rest is passed through).
const PEEK: usize = 512;

#[derive(Default)]
struct State {
    isolated: BTreeSet<i32>,
    /// Open connections: (caller, callee, the two sockets), by connection number.
    links: HashMap<u64, (Caller, i32, TcpStream, TcpStream)>,
}

impl State {
    fn carries(&self, from: Caller, to: i32) -> bool {
        match from {
            Caller::Client => true,
            Caller::Node(id) => {
                !self.isolated.contains(&to) && !id.is_some_and(|id| self.isolated.contains(&id))
            }
        }
    }
}

/// The proxies of one cluster and the cuts between its nodes. Cloning shares them.
#[derive(Clone, Default)]
pub struct Network {
    state: Arc<Mutex<State>>,
    next: Arc<AtomicU64>,
}

impl Network {
    pub fn new() -> Network {
        Network::default()
    }

    /// Starts a proxy on a free port of 127.0.0.1 to `127.0.0.1:upstream`, the `kind`
    /// listener of node `to`, and returns the proxy's port.
    pub fn proxy(&self, to: i32, kind: Listener, upstream: u16) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let net = self.clone();
        thread::spawn(move || {
            for caller in listener.incoming() {
                let Ok(caller) = caller else { continue };
                let net = net.clone();
                thread::spawn(move || net.carry(caller, to, kind, upstream));
            }
        });
        port
    }

    /// Cuts `node` off from every other node, closing the connections open between them.
    pub fn isolate(&self, node: i32) {
        let mut state = self.lock();
        state.isolated.insert(node);
        let cut: Vec<u64> = (state.links.iter())
            .filter(|(_, (from, to, _, _))| !state.carries(*from, *to))
            .map(|(id, _)| *id)
            .collect();
        for id in cut {
            if let Some((_, _, a, b)) = state.links.remove(&id) {
                let _ = a.shutdown(Shutdown::Both);
                let _ = b.shutdown(Shutdown::Both);
            }
        }
    }

    /// Joins every node again (new connections are carried; closed ones stay closed).
    pub fn heal(&self) {
        self.lock().isolated.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn carry(&self, mut caller: TcpStream, to: i32, kind: Listener, upstream: u16) {
        let _ = caller.set_read_timeout(Some(Duration::from_secs(10)));
        let Some(first) = peek_first_frame(&mut caller) else {
            return;
        };
        let _ = caller.set_read_timeout(None);
        let from = recognise(kind, &first);
        let Ok(mut callee) = TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = self.lock();
            if !state.carries(from, to) {
                return;
            }
            let (Ok(a), Ok(b)) = (caller.try_clone(), callee.try_clone()) else {
                return;
            };
            state.links.insert(id, (from, to, a, b));
        }
        if callee.write_all(&first).is_ok() {
            let (Ok(up_in), Ok(up_out)) = (caller.try_clone(), callee.try_clone()) else {
                self.lock().links.remove(&id);
                return;
            };
            let upward = thread::spawn(move || pipe(up_in, up_out));
            pipe(callee, caller);
            let _ = upward.join();
        }
        self.lock().links.remove(&id);
    }
}

/// Copies `from` to `to` until either side closes, then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// The length prefix and up to [`PEEK`] bytes of the first frame on `s`; `None` if it
/// closes first.
fn peek_first_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut prefix = [0u8; 4];
    s.read_exact(&mut prefix).ok()?;
    let len = u32::from_be_bytes(prefix) as usize;
    let mut first = prefix.to_vec();
    first.resize(4 + len.min(PEEK), 0);
    s.read_exact(&mut first[4..]).ok()?;
    Some(first)
}

/// Who sent `first` (length prefix included) to a `kind` listener.
fn recognise(kind: Listener, first: &[u8]) -> Caller {
    let body = &first[4..];
    match kind {
        Listener::Kafka => {
            // Request header v1+: api key, version, correlation id, then the client id.
            let client_id = body.get(8..10).and_then(|len| {
                let len = i16::from_be_bytes([len[0], len[1]]);
                let len = usize::try_from(len).ok()?;
                std::str::from_utf8(body.get(10..10 + len)?).ok()
            });
            match client_id.and_then(|c| c.strip_prefix("fjord-replica-fetcher-")) {
                Some(id) => Caller::Node(id.parse().ok()),
                None => Caller::Client,
            }
        }
        Listener::Controller => {
            let text = String::from_utf8_lossy(body);
            let id = text.split_once("\"from\":").and_then(|(_, rest)| {
                let digits: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '-')
                    .collect();
                digits.parse().ok()
            });
            Caller::Node(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn callers_are_recognised_from_their_first_frame() {
        let mut kafka = vec![0, 1, 0, 12, 0, 0, 0, 7];
        let id = b"fjord-replica-fetcher-2";
        kafka.extend_from_slice(&(id.len() as i16).to_be_bytes());
        kafka.extend_from_slice(id);
        assert_eq!(
            recognise(Listener::Kafka, &frame(&kafka)),
            Caller::Node(Some(2))
        );
        let mut client = vec![0, 18, 0, 3, 0, 0, 0, 1, 0, 7];
        client.extend_from_slice(b"rdkafka");
        assert_eq!(recognise(Listener::Kafka, &frame(&client)), Caller::Client);
        assert_eq!(recognise(Listener::Kafka, &frame(&[0, 18])), Caller::Client);
        let envelope = br#"{"from":1,"cluster_id":null,"request":{"Vote":{}}}"#;
        assert_eq!(
            recognise(Listener::Controller, &frame(envelope)),
            Caller::Node(Some(1))
        );
        assert_eq!(
            recognise(Listener::Controller, &frame(b"{}")),
            Caller::Node(None)
        );
    }

    #[test]
    fn an_isolated_node_is_cut_from_peers_not_from_clients() {
        let mut s = State::default();
        s.isolated.insert(1);
        assert!(s.carries(Caller::Client, 1));
        assert!(!s.carries(Caller::Node(Some(0)), 1));
        assert!(!s.carries(Caller::Node(None), 1));
        assert!(!s.carries(Caller::Node(Some(1)), 2));
        assert!(s.carries(Caller::Node(Some(0)), 2));
    }
}
