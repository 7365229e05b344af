//! BrokerHeartbeat: Kafka's `BrokerHeartbeatManager.calculateNextBrokerState` and what
//! `ReplicationControlManager.processBrokerHeartbeat` does with the result.

use super::{FenceReason, Heartbeat, HeartbeatReply, Liveness, LivenessEvent};
use crate::error::ControllerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Fenced,
    Unfenced,
    ControlledShutdown,
    ShutdownNow,
}

impl Liveness {
    /// BrokerHeartbeat at `now_ms`. `has_leaderships` says whether the broker leads any
    /// partition in the caller's current metadata (a broker in controlled shutdown may stop only
    /// when it leads none). STALE_BROKER_EPOCH for an unknown broker or a previous incarnation's
    /// epoch; such a heartbeat does not extend any session.
    ///
    /// The transitions, as Kafka's:
    /// - fenced: `want_shutdown` → shut down now; else unless `want_fence`, unfenced once its
    ///   metadata offset reaches its registration's offset (its epoch);
    /// - unfenced: `want_fence` → fenced (or shut down now with `want_shutdown`);
    ///   `want_shutdown` → controlled shutdown if it leads partitions, else shut down now;
    /// - controlled shutdown: shut down now once it leads nothing and every active broker has
    ///   applied the offset given to [`Liveness::note_shutdown_offset`].
    pub fn heartbeat(
        &mut self,
        now_ms: u64,
        hb: &Heartbeat,
        has_leaderships: bool,
    ) -> Result<(HeartbeatReply, Vec<LivenessEvent>), ControllerError> {
        let lowest_active = self.lowest_active_offset();
        let Some(s) = self.sessions.get_mut(&hb.broker_id) else {
            return Err(ControllerError::StaleBrokerEpoch(format!(
                "No broker registration found for broker id {}",
                hb.broker_id
            )));
        };
        if s.registration.info.epoch != hb.broker_epoch {
            return Err(ControllerError::StaleBrokerEpoch(format!(
                "Expected broker epoch {}, but got broker epoch {}",
                s.registration.info.epoch, hb.broker_epoch
            )));
        }
        let info = &mut s.registration.info;
        let current = if info.fenced {
            State::Fenced
        } else if info.in_controlled_shutdown {
            State::ControlledShutdown
        } else {
            State::Unfenced
        };
        let next = match current {
            State::Fenced if hb.want_shutdown => State::ShutdownNow,
            State::Fenced if !hb.want_fence && hb.current_metadata_offset >= info.epoch => {
                State::Unfenced
            }
            State::Unfenced if hb.want_fence && hb.want_shutdown => State::ShutdownNow,
            State::Unfenced if hb.want_fence => State::Fenced,
            State::Unfenced if hb.want_shutdown && has_leaderships => State::ControlledShutdown,
            State::Unfenced if hb.want_shutdown => State::ShutdownNow,
            State::ControlledShutdown
                if !has_leaderships && s.shutdown_offset.is_none_or(|o| o <= lowest_active) =>
            {
                State::ShutdownNow
            }
            other => other,
        };
        let mut events = Vec::new();
        let (id, epoch) = (info.id, info.epoch);
        if next != current {
            match next {
                State::Fenced | State::ShutdownNow if current != State::Fenced => {
                    info.fenced = true;
                    info.in_controlled_shutdown = false;
                    let reason = if next == State::Fenced {
                        FenceReason::Requested
                    } else {
                        FenceReason::ShutdownNow
                    };
                    events.push(LivenessEvent::Fenced {
                        broker_id: id,
                        epoch,
                        reason,
                    });
                }
                State::Unfenced => {
                    info.fenced = false;
                    events.push(LivenessEvent::Unfenced {
                        broker_id: id,
                        epoch,
                    });
                }
                State::ControlledShutdown => {
                    info.in_controlled_shutdown = true;
                    events.push(LivenessEvent::ControlledShutdown {
                        broker_id: id,
                        epoch,
                    });
                }
                _ => {}
            }
        }
        s.last_contact_ms = now_ms;
        s.metadata_offset = hb.current_metadata_offset;
        let reply = HeartbeatReply {
            is_caught_up: hb.current_metadata_offset >= epoch,
            is_fenced: matches!(next, State::Fenced | State::ShutdownNow),
            in_controlled_shutdown: next == State::ControlledShutdown,
            should_shut_down: next == State::ShutdownNow,
        };
        Ok((reply, events))
    }

    /// The lowest metadata offset applied by an active broker (`i64::MAX` if none is active).
    fn lowest_active_offset(&self) -> i64 {
        self.sessions
            .values()
            .filter(|s| s.registration.info.is_active())
            .map(|s| s.metadata_offset)
            .min()
            .unwrap_or(i64::MAX)
    }
}
