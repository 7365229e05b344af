//! Two operator replicas contend for the leader Lease on the fake API server.

mod support;

use std::time::Duration;

use fjord_operator::leader::LeaderElector;
use support::fake_apiserver::FakeApiServer;

fn at(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

#[tokio::test]
async fn only_one_replica_leads_until_its_lease_expires() {
    let server = FakeApiServer::new();
    let d = Duration::from_secs(15);
    let a = LeaderElector::new(server.client(), "ops", "fjord-operator-leader", "a", d);
    let b = LeaderElector::new(server.client(), "ops", "fjord-operator-leader", "b", d);

    assert!(a.try_acquire_or_renew(at(0)).await.unwrap());
    assert!(!b.try_acquire_or_renew(at(1)).await.unwrap());
    assert!(
        a.try_acquire_or_renew(at(5)).await.unwrap(),
        "the holder renews"
    );
    assert!(
        !b.try_acquire_or_renew(at(19)).await.unwrap(),
        "renewed at 5, valid until 20"
    );
    // a stops renewing: b takes over after expiry, and a learns it lost.
    assert!(b.try_acquire_or_renew(at(21)).await.unwrap());
    assert!(!a.try_acquire_or_renew(at(22)).await.unwrap());

    let lease = server
        .get(
            "/apis/coordination.k8s.io/v1/leases",
            "ops",
            "fjord-operator-leader",
        )
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once() {
    let server = FakeApiServer::new();
    let d = Duration::from_secs(15);
    let a = LeaderElector::new(server.client(), "ops", "l", "a", d);
    let b = LeaderElector::new(server.client(), "ops", "l", "b", d);
    assert!(a.try_acquire_or_renew(at(0)).await.unwrap());
    a.release().await.unwrap();
    assert!(b.try_acquire_or_renew(at(1)).await.unwrap());
}
