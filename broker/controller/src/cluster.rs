//! What the controller knows about the registered brokers, as the decisions need it: rack,
//! fencing, controlled shutdown and broker epoch. [`crate::Liveness::cluster_view`] builds it; a
//! caller that keeps its own registry can build one with [`ClusterView::from_brokers`].

use std::collections::BTreeMap;

use crate::error::ControllerError;

/// One registered broker as the decisions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// `node.id`.
    pub id: i32,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
    /// Fenced brokers neither lead nor join an ISR.
    pub fenced: bool,
    /// A broker in controlled shutdown is leaving: like a fenced one, it may not lead or join an
    /// ISR, but it still counts as registered for placement.
    pub in_controlled_shutdown: bool,
    /// Broker epoch: the metadata offset of its registration record.
    pub epoch: i64,
}

impl BrokerInfo {
    /// Kafka's `isActive`: registered, unfenced and not shutting down. Only active brokers may
    /// become leaders or be added to an ISR.
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

/// The registered brokers, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    brokers: BTreeMap<i32, BrokerInfo>,
}

impl ClusterView {
    /// A view of these brokers (a later duplicate id replaces an earlier one).
    pub fn from_brokers(brokers: impl IntoIterator<Item = BrokerInfo>) -> Self {
        Self {
            brokers: brokers.into_iter().map(|b| (b.id, b)).collect(),
        }
    }

    /// Adds or replaces one broker.
    pub fn insert(&mut self, broker: BrokerInfo) {
        self.brokers.insert(broker.id, broker);
    }

    /// The broker with this id, if registered.
    pub fn get(&self, id: i32) -> Option<&BrokerInfo> {
        self.brokers.get(&id)
    }

    /// Whether a broker with this id is registered (fenced or not).
    pub fn is_registered(&self, id: i32) -> bool {
        self.brokers.contains_key(&id)
    }

    /// Whether this broker may lead or join an ISR (see [`BrokerInfo::is_active`]).
    pub fn is_active(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(BrokerInfo::is_active)
    }

    /// The rack of this broker (`None` if it has none or is unknown).
    pub fn rack(&self, id: i32) -> Option<&str> {
        self.brokers.get(&id).and_then(|b| b.rack.as_deref())
    }

    /// All registered brokers in id order.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.values()
    }

    /// Kafka's `checkBrokerEpoch`: a request from `broker` carrying `epoch` is from its current
    /// registration, else STALE_BROKER_EPOCH (a previous incarnation, or an unknown broker).
    pub fn check_broker_epoch(&self, broker: i32, epoch: i64) -> Result<(), ControllerError> {
        match self.brokers.get(&broker) {
            None => Err(ControllerError::StaleBrokerEpoch(format!(
                "No broker registration found for broker id {broker}"
            ))),
            Some(b) if b.epoch != epoch => Err(ControllerError::StaleBrokerEpoch(format!(
                "Expected broker epoch {}, but got broker epoch {epoch}",
                b.epoch
            ))),
            Some(_) => Ok(()),
        }
    }

    /// Number of registered brokers, fenced ones included.
    pub fn len(&self) -> usize {
        self.brokers.len()
    }

    /// Whether no broker is registered.
    pub fn is_empty(&self) -> bool {
        self.brokers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_current_registration_epoch_passes_the_broker_epoch_check() {
        let view = ClusterView::from_brokers([BrokerInfo {
            id: 1,
            rack: None,
            fenced: false,
            in_controlled_shutdown: false,
            epoch: 40,
        }]);
        assert_eq!(view.check_broker_epoch(1, 40), Ok(()));
        assert_eq!(view.check_broker_epoch(1, 39).unwrap_err().code(), 77);
        assert_eq!(view.check_broker_epoch(2, 40).unwrap_err().code(), 77);
    }

    #[test]
    fn fenced_and_shutting_down_brokers_are_registered_but_not_active() {
        let broker = |id, fenced, in_controlled_shutdown| BrokerInfo {
            id,
            rack: None,
            fenced,
            in_controlled_shutdown,
            epoch: 1,
        };
        let view = ClusterView::from_brokers([broker(1, true, false), broker(2, false, true)]);
        assert!(view.is_registered(1) && view.is_registered(2));
        assert!(!view.is_active(1) && !view.is_active(2) && !view.is_active(3));
    }
}
