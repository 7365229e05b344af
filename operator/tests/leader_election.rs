//! Operator replicas contend for the leader Lease on the fake API server, with client-go's
//! semantics. Time is tokio's paused clock, so durations are exact and nothing sleeps.

mod support;

use std::time::Duration;

use fjord_operator::leader::{LeaderElector, Timing};
use kube::api::{Api, PostParams};
use support::fake_apiserver::FakeApiServer;
use tokio::time::{advance, Instant};

const LEASES: &str = "/apis/coordination.k8s.io/v1/leases";

fn elector(client: kube::Client, identity: &str) -> LeaderElector {
    LeaderElector::new(client, "ops", "leader", identity, Timing::default())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[tokio::test(start_paused = true)]
async fn a_candidate_waits_a_lease_duration_after_the_last_renewal_it_saw() {
    let server = FakeApiServer::new();
    let a = elector(server.client(), "a");
    let b = elector(server.client(), "b");

    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(
        !b.try_acquire_or_renew().await.unwrap(),
        "b sees a's record"
    );
    advance(secs(10)).await;
    assert!(a.try_acquire_or_renew().await.unwrap(), "the holder renews");
    advance(secs(14)).await;
    assert!(
        !b.try_acquire_or_renew().await.unwrap(),
        "b saw the renewal 14 s ago; the Lease is valid for 15"
    );
    advance(secs(2)).await;
    assert!(
        !b.try_acquire_or_renew().await.unwrap(),
        "b only saw the renewal now (it last looked before it): the count starts here"
    );
    advance(secs(16)).await;
    assert!(
        b.try_acquire_or_renew().await.unwrap(),
        "a stopped renewing"
    );
    assert!(!a.try_acquire_or_renew().await.unwrap(), "a learns it lost");

    let lease = server.get(LEASES, "ops", "leader").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}

#[tokio::test(start_paused = true)]
async fn the_holders_clock_is_never_compared_with_the_candidates() {
    let server = FakeApiServer::new();
    // The holder's clock runs a day ahead: its renewTime lies in the candidate's future. A
    // candidate comparing renewTime with its own clock would wait a day for a dead holder.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(server.client(), "ops");
    let ahead = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "skewed", "leaseDurationSeconds": 15,
                 "renewTime": ahead.to_string(), "acquireTime": ahead.to_string()},
    }))
    .unwrap();
    leases.create(&PostParams::default(), &lease).await.unwrap();

    let b = elector(server.client(), "b");
    assert!(!b.try_acquire_or_renew().await.unwrap());
    advance(secs(15)).await;
    assert!(!b.try_acquire_or_renew().await.unwrap());
    advance(secs(1)).await;
    assert!(
        b.try_acquire_or_renew().await.unwrap(),
        "unchanged for more than 15 s of b's own time"
    );
}

#[tokio::test(start_paused = true)]
async fn a_leader_cut_off_from_the_api_server_steps_down_before_another_acquires() {
    let server = FakeApiServer::new();
    let (client_a, partition_a) = server.client_with_outage();
    let a = elector(client_a, "a");
    let b = elector(server.client(), "b");
    assert!(a.try_acquire_or_renew().await.unwrap());

    let start = Instant::now();
    let leading = tokio::spawn({
        let a = a.clone();
        async move {
            a.keep_leading().await;
            Instant::now()
        }
    });
    let standby = tokio::spawn(async move {
        b.acquire().await;
        Instant::now()
    });
    // a renews for a while, then loses the API server.
    tokio::time::sleep(secs(7)).await;
    partition_a.store(true, std::sync::atomic::Ordering::SeqCst);
    let stepped_down = leading.await.unwrap();
    let acquired = standby.await.unwrap();
    assert!(
        stepped_down < acquired,
        "a stepped down at {:?}, b acquired at {:?}",
        stepped_down - start,
        acquired - start
    );
    let timing = Timing::default();
    assert!(stepped_down - start <= secs(7) + timing.renew_deadline);
    assert!(acquired - start > secs(6) + timing.lease_duration);
}

#[tokio::test(start_paused = true)]
async fn a_released_lease_is_taken_at_once() {
    let server = FakeApiServer::new();
    let a = elector(server.client(), "a");
    let b = elector(server.client(), "b");
    assert!(a.try_acquire_or_renew().await.unwrap());
    a.release().await.unwrap();
    assert!(b.try_acquire_or_renew().await.unwrap());
}
