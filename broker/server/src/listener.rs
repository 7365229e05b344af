//! The accept loop: owns the connection limits and the shutdown signal.
//!
//! A connection's error is logged in its own task and never ends the accept loop.
//! `max.connections` is a semaphore taken before accept, so over it new clients wait in the
//! backlog; `max.connections.per.ip` closes a connection at accept (both as Kafka does).
//! Out of descriptors, the loop sheds the waiting client with a spare descriptor kept for the
//! purpose (so it sees a clean close instead of a time-out) and otherwise backs off.

use crate::broker::Broker;
use crate::budget::RequestBudget;
use crate::connection::ConnectionError;
use crate::connection_quotas::ConnectionQuotas;
use crate::shutdown::Shutdown;
use crate::throttled_log::ThrottledLog;
use nix::errno::Errno;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Refusals and accept failures are logged at most this often (with a count of the rest).
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Back-off after an accept failure that shedding could not relieve: doubles up to the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

pub struct Listener {
    pub listener: TcpListener,
    pub broker: Arc<Broker>,
    /// `max.connections`.
    pub limit: Arc<Semaphore>,
    /// `queued.max.request.bytes`, shared by every connection.
    pub budget: Arc<RequestBudget>,
    /// `max.connections.per.ip` and its overrides.
    pub quotas: Arc<ConnectionQuotas>,
    /// The TLS context of an SSL or SASL_SSL listener.
    pub tls: Option<Arc<crate::security::tls::TlsContext>>,
}

impl Listener {
    /// Accepts until shutdown, then waits for open connections to finish their
    /// in-flight request (bounded by `drain`).
    pub async fn run(self, mut shutdown: Shutdown, drain: Duration) {
        let max = self.limit.available_permits();
        let mut reserve = Reserve::open();
        let mut backoff = BACKOFF_MIN;
        let refused_log = ThrottledLog::new(LOG_EVERY);
        let failed_log = ThrottledLog::new(LOG_EVERY);
        loop {
            let permit = tokio::select! {
                p = self.limit.clone().acquire_owned() => p,
                _ = shutdown.recv() => break,
            };
            let Ok(permit) = permit else { break };
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = shutdown.recv() => break,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    let shed = out_of_descriptors(&e) && self.shed_one(&mut reserve);
                    if let Some(held_back) = failed_log.check(Instant::now()) {
                        tracing::warn!(
                            error = %e,
                            shed,
                            similar_since_last_line = held_back,
                            "accept failed"
                        );
                    }
                    if !shed {
                        // Nothing was freed: wait before trying again, longer each time.
                        let pause = backoff;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = shutdown.recv() => break,
                        }
                    }
                    continue;
                }
            };
            backoff = BACKOFF_MIN;
            let slot = match self.quotas.open(peer.ip()) {
                Ok(slot) => slot,
                Err(limit) => {
                    if let Some(held_back) = refused_log.check(Instant::now()) {
                        tracing::warn!(
                            %peer,
                            limit,
                            similar_since_last_line = held_back,
                            "closing connection: max.connections.per.ip reached"
                        );
                    }
                    drop(stream);
                    continue;
                }
            };
            self.broker.metrics.connections.inc();
            let conn = crate::security::accept::serve(
                self.broker.clone(),
                self.budget.clone(),
                self.tls.clone(),
                stream,
                peer,
                shutdown.clone(),
            );
            let broker = self.broker.clone();
            tokio::spawn(async move {
                match conn.await {
                    Ok(()) => tracing::debug!(%peer, "connection closed"),
                    Err(ConnectionError::Io(e)) => {
                        tracing::debug!(%peer, error = %e, "connection closed")
                    }
                    Err(e) => tracing::warn!(%peer, error = %e, "closing connection"),
                }
                broker.metrics.connections.dec();
                drop(slot);
                drop(permit);
            });
        }
        drop(self.listener);
        let all = self.limit.acquire_many(max as u32);
        if tokio::time::timeout(drain, all).await.is_err() {
            tracing::warn!("connections still open after the drain period; closing them");
        }
    }

    /// Out of descriptors with a client waiting: frees the spare descriptor, accepts the client
    /// and closes it at once, then takes the spare back. Returns whether a client was shed.
    fn shed_one(&self, reserve: &mut Reserve) -> bool {
        if !reserve.release() {
            return false;
        }
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let shed = match self.listener.poll_accept(&mut cx) {
            Poll::Ready(Ok((stream, _))) => {
                drop(stream);
                true
            }
            _ => false,
        };
        reserve.reopen();
        shed
    }
}

fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE)
    )
}

/// One descriptor held back so that, at the limit, the broker can still accept a client in
/// order to close it (nginx and others do the same): the client learns at once that the broker
/// is full instead of waiting for a connect time-out.
struct Reserve(Option<std::fs::File>);

impl Reserve {
    fn open() -> Reserve {
        let mut r = Reserve(None);
        r.reopen();
        r
    }

    fn reopen(&mut self) {
        if self.0.is_none() {
            self.0 = std::fs::File::open("/dev/null").ok();
        }
    }

    /// Closes the spare descriptor; false if there was none to close.
    fn release(&mut self) -> bool {
        self.0.take().is_some()
    }
}
