//! Applying the dynamic broker configs of the metadata image to this broker while it runs.
//!
//! Every broker folds the same `BrokerConfigChanged` records; each takes the cluster-wide
//! default and its own per-broker configs and rebuilds its live configuration from them
//! (see [`crate::config::dynamic`]). Readers pick the change up on their next use:
//! partition logs get their recomputed log config here, the cleaner threads are restarted
//! by the maintenance loop, and the per-IP connection limits are updated in place.

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::metadata::MetadataImage;
use std::sync::Arc;

/// `cfg` with the dynamic configs `image` holds for broker `cfg.node_id`. A set that does
/// not build (it cannot: the controller checks every value) leaves the static config,
/// with an error in the log.
pub fn live(cfg: &BrokerConfig, image: &MetadataImage) -> BrokerConfig {
    let default = image.broker_configs(None);
    let mine = image.broker_configs(Some(cfg.node_id));
    match cfg.with_dynamic(default, mine) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "dynamic broker configs do not apply; keeping the static configuration");
            cfg.clone()
        }
    }
}

impl Broker {
    /// Brings the live configuration in line with `image`'s dynamic broker configs.
    /// Returns whether it changed (then every partition's log config must be recomputed).
    pub(crate) fn apply_dynamic_configs(&self, image: &MetadataImage) -> bool {
        let current = self.live_config();
        let same = |level: &std::collections::BTreeMap<&'static str, String>,
                    wanted: &std::collections::BTreeMap<String, String>| {
            level.len() == wanted.len()
                && level
                    .iter()
                    .all(|(k, v)| wanted.get(*k).is_some_and(|w| w == v))
        };
        if same(&current.dynamic_default, image.broker_configs(None))
            && same(
                &current.dynamic_broker,
                image.broker_configs(Some(self.config.node_id)),
            )
        {
            return false;
        }
        let next = live(&self.config, image);
        if next.effective == current.effective
            && next.dynamic_default == current.dynamic_default
            && next.dynamic_broker == current.dynamic_broker
        {
            return false;
        }
        for (key, value) in &next.effective {
            if current.effective.get(key) != Some(value) {
                tracing::info!(config = key, %value, source = ?next.source_of(key), "broker config changed dynamically");
            }
        }
        if let Some(q) = self.connection_quotas.get() {
            q.set_limits(
                next.max_connections_per_ip,
                next.max_connections_per_ip_overrides.clone(),
            );
        }
        self.set_live_config(Arc::new(next));
        true
    }
}

impl Broker {
    /// Replaces the dynamic configs of one BROKER resource (`None`: the cluster-wide
    /// default) through the active controller, or only checks them.
    pub async fn set_broker_configs(
        &self,
        broker: Option<i32>,
        configs: std::collections::BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), crate::topics::TopicError> {
        let done = self
            .submit(crate::quorum::controller::Command::SetBrokerConfigs {
                broker,
                configs,
                validate_only,
            })
            .await?;
        if !validate_only && done.index > 0 {
            let resource = broker.map_or_else(
                || "cluster-wide default".to_string(),
                |b| format!("broker {b}"),
            );
            tracing::info!(%resource, "dynamic broker configs changed");
        }
        Ok(())
    }
}
