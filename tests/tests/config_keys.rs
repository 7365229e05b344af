//! The operator checks Cluster `spec.config` against the broker's keys: the two lists
//! must be the same, or a valid Cluster is refused or a bad one crash-loops its pods.

#[test]
fn the_operator_knows_exactly_the_keys_the_broker_accepts() {
    let mut broker: Vec<&str> = fjord_broker::config::KEYS.iter().map(|k| k.name).collect();
    let mut operator: Vec<&str> = fjord_crds::broker_properties::KNOWN.to_vec();
    broker.sort_unstable();
    operator.sort_unstable();
    assert_eq!(
        broker, operator,
        "update crds/src/broker_properties.rs (KNOWN) to match broker/server/src/config/keys.rs"
    );
}
