//! Broker registration, heartbeats and fencing: Kafka's `ClusterControlManager` (registration)
//! and `BrokerHeartbeatManager` (sessions and the fenced / unfenced / controlled-shutdown
//! states) as one sans-IO state machine.
//!
//! Time comes in as milliseconds on any monotonic clock; nothing here reads a clock. The broker
//! epoch is the metadata offset of the broker's registration record, as in Kafka: the caller
//! passes the offset the record will get. Methods change this state at once (the active
//! controller's view) and return [`LivenessEvent`]s: the records to propose, and the cue for the
//! partition changes that go with them (see each variant). A new active controller rebuilds this
//! from its image with [`Liveness::from_image`].
//!
//! One difference from Kafka 3.x, on purpose: a new incarnation of a broker whose session has
//! lapsed but that was never fenced (a restart faster than the next `tick`) also yields
//! [`LivenessEvent::Fenced`], so the caller moves its leaderships; Kafka without ELR leaves them
//! on the now-fenced registration.

use std::collections::BTreeMap;

use crate::cluster::{BrokerInfo, ClusterView};
use crate::error::ControllerError;

/// `broker.session.timeout.ms`'s default.
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 9_000;

/// Liveness settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessConfig {
    /// `broker.session.timeout.ms`: a broker not heard from for longer is fenced.
    pub session_timeout_ms: u64,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
        }
    }
}

/// One listener of a broker, as BrokerRegistration carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Listener name.
    pub name: String,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Security protocol id (0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL).
    pub security_protocol: i16,
}

/// A BrokerRegistration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `node.id`.
    pub broker_id: i32,
    /// A fresh id per process start: tells a restart from a retried registration.
    pub incarnation_id: u128,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Advertised listeners.
    pub listeners: Vec<Endpoint>,
}

/// A registered broker: what Metadata and DescribeCluster list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    /// Id, rack, fencing, controlled shutdown, epoch.
    pub info: BrokerInfo,
    /// The registering process's incarnation.
    pub incarnation_id: u128,
    /// Advertised listeners.
    pub listeners: Vec<Endpoint>,
}

/// A BrokerHeartbeat request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// The broker.
    pub broker_id: i32,
    /// Its epoch (from the registration reply).
    pub broker_epoch: i64,
    /// The metadata offset it has applied.
    pub current_metadata_offset: i64,
    /// It asks to be (or stay) fenced.
    pub want_fence: bool,
    /// It is shutting down.
    pub want_shutdown: bool,
}

/// The BrokerHeartbeat response fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// The broker has applied metadata up to its registration.
    pub is_caught_up: bool,
    /// The broker is fenced.
    pub is_fenced: bool,
    /// The broker is in controlled shutdown.
    pub in_controlled_shutdown: bool,
    /// The broker may stop now.
    pub should_shut_down: bool,
}

/// Why a broker was fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceReason {
    /// No heartbeat for `broker.session.timeout.ms`.
    SessionExpired,
    /// The broker asked (`want_fence`).
    Requested,
    /// The broker is stopping (`want_shutdown`) and may go now.
    ShutdownNow,
    /// A new incarnation registered before the old session was fenced.
    Reregistered,
}

/// A decision the caller must record and act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LivenessEvent {
    /// Propose a RegisterBrokerRecord. A new incarnation is fenced with a new epoch (the offset
    /// passed to [`Liveness::register`]); a retried registration keeps its epoch and state.
    Registered(BrokerRegistration),
    /// Propose [`crate::election::remove_broker`]'s change for every partition that has the
    /// broker in its ISR, then a fence record (BrokerRegistrationChangeRecord fenced=1). With
    /// [`FenceReason::Reregistered`] it follows the new registration record, which already
    /// fenced the broker: propose only the partition changes.
    Fenced {
        /// The broker.
        broker_id: i32,
        /// Its epoch.
        epoch: i64,
        /// Why, for the INFO log line.
        reason: FenceReason,
    },
    /// Propose an unfence record, then [`crate::election::on_broker_unfenced`]'s change for
    /// every leaderless partition.
    Unfenced {
        /// The broker.
        broker_id: i32,
        /// Its epoch.
        epoch: i64,
    },
    /// Propose BrokerRegistrationChangeRecord in_controlled_shutdown=1, then
    /// [`crate::shutdown::plan`]'s changes.
    ControlledShutdown {
        /// The broker.
        broker_id: i32,
        /// Its epoch.
        epoch: i64,
    },
    /// Propose [`crate::election::remove_broker`]'s changes, then an UnregisterBrokerRecord.
    Unregistered {
        /// The broker.
        broker_id: i32,
        /// Its last epoch.
        epoch: i64,
    },
}

#[derive(Debug, Clone)]
struct Session {
    registration: BrokerRegistration,
    last_contact_ms: u64,
    metadata_offset: i64,
    /// Offset of the last record that moved this broker's leaderships away, once committed.
    shutdown_offset: Option<i64>,
}

/// Registered brokers and their sessions. See the module doc.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    config: LivenessConfig,
    sessions: BTreeMap<i32, Session>,
}

mod heartbeat;

impl Liveness {
    /// No broker registered.
    pub fn new(config: LivenessConfig) -> Self {
        Self {
            config,
            sessions: BTreeMap::new(),
        }
    }

    /// The state a newly active controller starts from: the registrations in its image, each
    /// with a fresh session starting `now_ms` (as Kafka does on activation).
    pub fn from_image(
        config: LivenessConfig,
        registrations: impl IntoIterator<Item = BrokerRegistration>,
        now_ms: u64,
    ) -> Self {
        let sessions = registrations
            .into_iter()
            .map(|registration| {
                let session = Session {
                    last_contact_ms: now_ms,
                    metadata_offset: -1,
                    shutdown_offset: None,
                    registration,
                };
                (session.registration.info.id, session)
            })
            .collect();
        Self { config, sessions }
    }

    /// BrokerRegistration. `record_offset` is the metadata offset the registration record will
    /// get: it becomes the broker epoch of a new incarnation. Returns the broker epoch for the
    /// reply. DUPLICATE_BROKER_REGISTRATION when another incarnation still holds a live session.
    pub fn register(
        &mut self,
        now_ms: u64,
        registration: Registration,
        record_offset: i64,
    ) -> Result<(i64, Vec<LivenessEvent>), ControllerError> {
        let id = registration.broker_id;
        let mut events = Vec::with_capacity(2);
        let previous = self.sessions.get(&id);
        let same_incarnation =
            previous.is_some_and(|s| s.registration.incarnation_id == registration.incarnation_id);
        let mut fence_previous = None;
        if let Some(s) = previous {
            if !same_incarnation && self.has_valid_session(s, now_ms) {
                return Err(ControllerError::DuplicateBrokerRegistration(
                    "Another broker is registered with that broker id.".to_string(),
                ));
            }
            if !same_incarnation && !s.registration.info.fenced {
                fence_previous = Some(LivenessEvent::Fenced {
                    broker_id: id,
                    epoch: s.registration.info.epoch,
                    reason: FenceReason::Reregistered,
                });
            }
        }
        let info = match previous {
            Some(s) if same_incarnation => BrokerInfo {
                rack: registration.rack,
                ..s.registration.info.clone()
            },
            _ => BrokerInfo {
                id,
                rack: registration.rack,
                fenced: true,
                in_controlled_shutdown: false,
                epoch: record_offset,
            },
        };
        let epoch = info.epoch;
        let registered = BrokerRegistration {
            info,
            incarnation_id: registration.incarnation_id,
            listeners: registration.listeners,
        };
        events.push(LivenessEvent::Registered(registered.clone()));
        events.extend(fence_previous);
        let shutdown_offset = match previous {
            Some(s) if same_incarnation => s.shutdown_offset,
            _ => None,
        };
        self.sessions.insert(
            id,
            Session {
                registration: registered,
                last_contact_ms: now_ms,
                metadata_offset: -1,
                shutdown_offset,
            },
        );
        Ok((epoch, events))
    }

    /// UnregisterBroker (API 64). BROKER_ID_NOT_REGISTERED if unknown.
    pub fn unregister(&mut self, broker_id: i32) -> Result<Vec<LivenessEvent>, ControllerError> {
        match self.sessions.remove(&broker_id) {
            None => Err(ControllerError::BrokerIdNotRegistered(format!(
                "Broker ID {broker_id} is not currently registered"
            ))),
            Some(s) => Ok(vec![LivenessEvent::Unregistered {
                broker_id,
                epoch: s.registration.info.epoch,
            }]),
        }
    }

    /// Fences every broker whose session has expired by `now_ms`. Call it at
    /// [`Liveness::next_expiry_ms`] (or periodically).
    pub fn tick(&mut self, now_ms: u64) -> Vec<LivenessEvent> {
        let timeout = self.config.session_timeout_ms;
        let mut events = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            let info = &mut s.registration.info;
            if !info.fenced && s.last_contact_ms.saturating_add(timeout) < now_ms {
                info.fenced = true;
                info.in_controlled_shutdown = false;
                events.push(LivenessEvent::Fenced {
                    broker_id: *id,
                    epoch: info.epoch,
                    reason: FenceReason::SessionExpired,
                });
            }
        }
        events
    }

    /// When the next unfenced session expires (the time to call [`Liveness::tick`]).
    pub fn next_expiry_ms(&self) -> Option<u64> {
        let timeout = self.config.session_timeout_ms;
        self.sessions
            .values()
            .filter(|s| !s.registration.info.fenced)
            .map(|s| s.last_contact_ms.saturating_add(timeout).saturating_add(1))
            .min()
    }

    /// Records that the changes moving `broker_id`'s leaderships away for its controlled
    /// shutdown end at metadata offset `offset`: it may stop once every active broker has
    /// applied that far (Kafka's controlled shutdown offset). Without this call only the
    /// leaderships gate the shutdown.
    pub fn note_shutdown_offset(&mut self, broker_id: i32, offset: i64) {
        if let Some(s) = self.sessions.get_mut(&broker_id) {
            s.shutdown_offset = Some(offset);
        }
    }

    /// The brokers as the decisions need them.
    pub fn cluster_view(&self) -> ClusterView {
        ClusterView::from_brokers(self.sessions.values().map(|s| s.registration.info.clone()))
    }

    /// A broker's registration.
    pub fn registration(&self, broker_id: i32) -> Option<&BrokerRegistration> {
        self.sessions.get(&broker_id).map(|s| &s.registration)
    }

    /// All registrations in id order.
    pub fn registrations(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.sessions.values().map(|s| &s.registration)
    }

    fn has_valid_session(&self, s: &Session, now_ms: u64) -> bool {
        !s.registration.info.fenced
            && s.last_contact_ms
                .saturating_add(self.config.session_timeout_ms)
                >= now_ms
    }
}

#[cfg(test)]
mod tests;
