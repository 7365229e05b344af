//! Controlled shutdown (Kafka's, KIP-631 style): on SIGTERM, before it stops serving, a broker
//! asks the active controller to move the leaderships it holds to other in-sync replicas and
//! waits — bounded — until its metadata shows it leads no replicated partition, so clients
//! switch leaders without waiting for its session to expire.

use crate::broker::Broker;
use crate::quorum::controller::Command;
use std::time::Duration;
use tokio::time::Instant;

/// Upper bound on the wait; past it the broker stops anyway (its session then expires).
const MAX_WAIT: Duration = Duration::from_secs(10);

/// Whether this broker leads a partition that has other replicas.
fn leads_replicated(broker: &Broker) -> bool {
    let image = broker.image();
    let me = broker.config.node_id;
    image
        .topics
        .values()
        .any(|t| (0..t.replicas.len()).any(|p| t.replicas[p].len() > 1 && t.leader(p) == me))
}

pub async fn controlled(broker: &Broker) {
    if !leads_replicated(broker) {
        return;
    }
    let me = broker.config.node_id;
    let Some(epoch) = broker.image().brokers.get(&me).map(|b| b.epoch) else {
        return;
    };
    tracing::info!("controlled shutdown: moving leaderships to other in-sync replicas");
    let deadline = Instant::now() + MAX_WAIT;
    let cmd = Command::ControlledShutdown { id: me, epoch };
    match tokio::time::timeout_at(deadline, broker.quorum.controller.submit(cmd)).await {
        Ok(Ok(done)) => {
            let _ = tokio::time::timeout_at(deadline, broker.quorum.wait_applied(done.index)).await;
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e.message, "controlled shutdown refused; stopping anyway");
            return;
        }
        Err(_) => {
            tracing::warn!("controlled shutdown timed out; stopping anyway");
            return;
        }
    }
    while leads_replicated(broker) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(
        still_leading = leads_replicated(broker),
        "controlled shutdown done"
    );
}
