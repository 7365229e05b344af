//! From an accepted socket to a served connection: the TLS handshake on TLS listeners
//! (in the connection's own task, so a slow handshake never holds up the accept loop),
//! then the session the connection starts with.

use super::sasl::Session;
use super::tls::TlsContext;
use super::Principal;
use crate::broker::Broker;
use crate::budget::RequestBudget;
use crate::connection::{Connection, ConnectionError};
use crate::shutdown::Shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Serves one client until it closes, an error, or shutdown.
pub async fn serve(
    broker: Arc<Broker>,
    budget: Arc<RequestBudget>,
    tls: Option<Arc<TlsContext>>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: Shutdown,
) -> Result<(), ConnectionError> {
    let _ = stream.set_nodelay(true);
    let protocol = broker.config.security.protocol;
    match tls {
        None => {
            let (reader, writer) = stream.into_split();
            let session = Session::new(protocol, Principal::anonymous());
            Connection::new(broker, budget, reader, writer, peer, session)
                .run(shutdown)
                .await
        }
        Some(tls) => {
            let timeout = Duration::from_millis(broker.config.connections_max_idle_ms);
            let stream = tls.accept(stream, timeout).await?;
            let principal = tls.principal(&stream)?;
            tracing::debug!(%peer, %principal, "TLS handshake done");
            let (reader, writer) = tokio::io::split(stream);
            let session = Session::new(protocol, principal);
            Connection::new(broker, budget, reader, writer, peer, session)
                .run(shutdown)
                .await
        }
    }
}
