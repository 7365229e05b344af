use super::*;

const TIMEOUT: u64 = 9_000;

fn liveness() -> Liveness {
    Liveness::new(LivenessConfig {
        session_timeout_ms: TIMEOUT,
    })
}

fn registration(id: i32, incarnation: u128) -> Registration {
    Registration {
        broker_id: id,
        incarnation_id: incarnation,
        rack: Some("r1".to_string()),
        listeners: vec![Endpoint {
            name: "PLAINTEXT".to_string(),
            host: "127.0.0.1".to_string(),
            port: 9092,
            security_protocol: 0,
        }],
    }
}

fn hb(id: i32, epoch: i64, offset: i64) -> Heartbeat {
    Heartbeat {
        broker_id: id,
        broker_epoch: epoch,
        current_metadata_offset: offset,
        want_fence: false,
        want_shutdown: false,
    }
}

/// Registers broker `id` at offset 100 and unfences it at time `now`.
fn running(l: &mut Liveness, id: i32, now: u64) -> i64 {
    let (epoch, _) = l.register(now, registration(id, 1), 100).unwrap();
    l.heartbeat(now, &hb(id, epoch, 100), false).unwrap();
    epoch
}

#[test]
fn a_new_registration_is_fenced_with_the_record_offset_as_epoch() {
    let mut l = liveness();
    let (epoch, events) = l.register(0, registration(1, 7), 42).unwrap();
    assert_eq!(epoch, 42);
    let LivenessEvent::Registered(r) = &events[0] else {
        panic!("{events:?}");
    };
    assert!(r.info.fenced);
    assert_eq!(r.info.rack.as_deref(), Some("r1"));
    assert!(!l.cluster_view().is_active(1));
}

#[test]
fn a_broker_is_unfenced_only_once_caught_up_to_its_registration() {
    let mut l = liveness();
    let (epoch, _) = l.register(0, registration(1, 7), 42).unwrap();
    let (reply, events) = l.heartbeat(10, &hb(1, epoch, 41), false).unwrap();
    assert!(reply.is_fenced && !reply.is_caught_up && events.is_empty());
    let (reply, events) = l.heartbeat(20, &hb(1, epoch, 42), false).unwrap();
    assert!(!reply.is_fenced && reply.is_caught_up);
    assert_eq!(
        events,
        vec![LivenessEvent::Unfenced {
            broker_id: 1,
            epoch
        }]
    );
    assert!(l.cluster_view().is_active(1));
}

#[test]
fn a_broker_that_wants_to_stay_fenced_is_not_unfenced() {
    let mut l = liveness();
    let (epoch, _) = l.register(0, registration(1, 7), 42).unwrap();
    let mut beat = hb(1, epoch, 50);
    beat.want_fence = true;
    let (reply, _) = l.heartbeat(10, &beat, false).unwrap();
    assert!(reply.is_fenced);
}

#[test]
fn a_session_without_heartbeats_for_the_timeout_is_fenced() {
    let mut l = liveness();
    let epoch = running(&mut l, 1, 1_000);
    assert_eq!(l.next_expiry_ms(), Some(1_000 + TIMEOUT + 1));
    assert!(
        l.tick(1_000 + TIMEOUT).is_empty(),
        "not yet expired at the deadline"
    );
    let events = l.tick(1_000 + TIMEOUT + 1);
    assert_eq!(
        events,
        vec![LivenessEvent::Fenced {
            broker_id: 1,
            epoch,
            reason: FenceReason::SessionExpired
        }]
    );
    assert!(!l.cluster_view().is_active(1));
    assert!(l.tick(1_000 + 3 * TIMEOUT).is_empty(), "fenced once");
}

#[test]
fn heartbeats_keep_the_session_alive() {
    let mut l = liveness();
    let epoch = running(&mut l, 1, 0);
    for t in (1_000..50_000).step_by(1_000) {
        l.heartbeat(t, &hb(1, epoch, 100), false).unwrap();
        assert!(l.tick(t + 1).is_empty());
    }
}

#[test]
fn a_heartbeat_with_a_stale_epoch_is_stale_broker_epoch() {
    let mut l = liveness();
    let epoch = running(&mut l, 1, 0);
    let e = l.heartbeat(1, &hb(1, epoch - 1, 100), false).unwrap_err();
    assert_eq!(e.code(), 77);
    assert_eq!(
        e.to_string(),
        "Expected broker epoch 100, but got broker epoch 99"
    );
    assert_eq!(l.heartbeat(1, &hb(9, 0, 0), false).unwrap_err().code(), 77);
}

#[test]
fn a_stale_heartbeat_does_not_extend_the_session() {
    let mut l = liveness();
    let epoch = running(&mut l, 1, 0);
    let _ = l.heartbeat(TIMEOUT, &hb(1, epoch + 1, 100), false);
    assert_eq!(l.tick(TIMEOUT + 1).len(), 1);
}

#[test]
fn another_incarnation_is_refused_while_the_session_lives() {
    let mut l = liveness();
    running(&mut l, 1, 0);
    let e = l.register(10, registration(1, 2), 200).unwrap_err();
    assert_eq!(e.code(), 101);
}

#[test]
fn a_new_incarnation_after_the_session_expired_gets_a_new_epoch_and_fences_the_old_one() {
    let mut l = liveness();
    let old = running(&mut l, 1, 0);
    let (epoch, events) = l.register(TIMEOUT + 1, registration(1, 2), 300).unwrap();
    assert_eq!(epoch, 300);
    assert!(matches!(&events[0], LivenessEvent::Registered(r) if r.info.epoch == 300));
    assert_eq!(
        events[1],
        LivenessEvent::Fenced {
            broker_id: 1,
            epoch: old,
            reason: FenceReason::Reregistered
        }
    );
    assert_eq!(
        l.heartbeat(TIMEOUT + 2, &hb(1, old, 400), false)
            .unwrap_err()
            .code(),
        77
    );
}

#[test]
fn a_retried_registration_keeps_its_epoch_and_state() {
    let mut l = liveness();
    let epoch = running(&mut l, 1, 0);
    let (again, events) = l.register(10, registration(1, 1), 500).unwrap();
    assert_eq!(again, epoch);
    assert!(matches!(&events[0], LivenessEvent::Registered(r) if !r.info.fenced));
}

#[test]
fn shutdown_without_leaderships_is_granted_at_once() {
    let mut l = liveness();
    let epoch = running(&mut l, 1, 0);
    let mut beat = hb(1, epoch, 100);
    beat.want_shutdown = true;
    let (reply, events) = l.heartbeat(1, &beat, false).unwrap();
    assert!(reply.should_shut_down);
    assert!(matches!(
        events[0],
        LivenessEvent::Fenced {
            reason: FenceReason::ShutdownNow,
            ..
        }
    ));
}

#[test]
fn shutdown_with_leaderships_waits_for_them_to_move_and_for_active_brokers_to_catch_up() {
    let mut l = liveness();
    let epoch = running(&mut l, 1, 0);
    let other = running(&mut l, 2, 0);
    let mut beat = hb(1, epoch, 100);
    beat.want_shutdown = true;
    let (reply, events) = l.heartbeat(1, &beat, true).unwrap();
    assert!(reply.in_controlled_shutdown && !reply.should_shut_down);
    assert_eq!(
        events,
        vec![LivenessEvent::ControlledShutdown {
            broker_id: 1,
            epoch
        }]
    );
    assert!(
        !l.cluster_view().is_active(1),
        "a shutting-down broker may not lead"
    );
    // Still leading: wait.
    assert!(!l.heartbeat(2, &beat, true).unwrap().0.should_shut_down);
    // Leaderships moved at offset 150, but broker 2 has applied only 100.
    l.note_shutdown_offset(1, 150);
    assert!(!l.heartbeat(3, &beat, false).unwrap().0.should_shut_down);
    l.heartbeat(4, &hb(2, other, 150), false).unwrap();
    let (reply, events) = l.heartbeat(5, &beat, false).unwrap();
    assert!(reply.should_shut_down);
    assert_eq!(events.len(), 1, "fenced as it leaves: {events:?}");
}

#[test]
fn a_new_controller_gives_every_registered_broker_a_fresh_session() {
    let mut l = liveness();
    running(&mut l, 1, 0);
    let image: Vec<_> = l.registrations().cloned().collect();
    let mut fresh = Liveness::from_image(LivenessConfig::default(), image, 50_000);
    assert!(fresh.tick(50_000 + DEFAULT_SESSION_TIMEOUT_MS).is_empty());
    assert_eq!(fresh.tick(50_001 + DEFAULT_SESSION_TIMEOUT_MS).len(), 1);
}

#[test]
fn unregistering_an_unknown_broker_is_broker_id_not_registered() {
    let mut l = liveness();
    assert_eq!(l.unregister(3).unwrap_err().code(), 102);
    running(&mut l, 3, 0);
    assert_eq!(l.unregister(3).unwrap().len(), 1);
    assert!(l.registration(3).is_none());
}
