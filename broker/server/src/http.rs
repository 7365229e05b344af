//! The metrics and health HTTP endpoint: `/metrics`, `/livez`, `/readyz`.
//!
//! A deliberately small HTTP/1.1 responder (GET only, one request per connection):
//! Prometheus and kubelet probes need nothing more, and it keeps hyper out of the
//! broker's dependency tree.

use crate::broker::Broker;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the endpoint reports on: empty until the logs are loaded.
pub type Health = Arc<std::sync::OnceLock<Arc<Broker>>>;

/// Serves until shutdown. Starts before the logs load, so `/livez` answers and
/// `/readyz` says 503 while a large data directory is recovered.
pub async fn serve(listener: TcpListener, health: Health, mut shutdown: Shutdown) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.recv() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let health = health.clone();
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(10), answer(stream, health.get())).await;
        });
    }
}

async fn answer(mut stream: TcpStream, broker: Option<&Arc<Broker>>) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    // Read until the end of the request head, at most 4 KiB.
    while len < buf.len() {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut parts = head.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => match broker {
            Some(b) => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                crate::gauges::render(b),
            ),
            None => (
                "503 Service Unavailable",
                "text/plain",
                "loading\n".to_string(),
            ),
        },
        ("GET", "/livez") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", "/readyz") if broker.is_some_and(|b| b.is_ready()) => {
            ("200 OK", "text/plain", "ready\n".to_string())
        }
        ("GET", "/readyz") => (
            "503 Service Unavailable",
            "text/plain",
            "not ready\n".to_string(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        ),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await
}
