//! The group coordinator's cross-field rules: each `group.consumer.*` interval lies
//! within its min/max keys, and members are told to heartbeat more often than their
//! session lasts. Kafka checks the same at start-up (`GroupCoordinatorConfig`) and
//! refuses to start otherwise; its messages are kept so an operator can search them.

use super::ConfigError;
use std::collections::BTreeMap;

const SESSION: &str = "group.consumer.session.timeout.ms";
const MIN_SESSION: &str = "group.consumer.min.session.timeout.ms";
const MAX_SESSION: &str = "group.consumer.max.session.timeout.ms";
const HEARTBEAT: &str = "group.consumer.heartbeat.interval.ms";
const MIN_HEARTBEAT: &str = "group.consumer.min.heartbeat.interval.ms";
const MAX_HEARTBEAT: &str = "group.consumer.max.heartbeat.interval.ms";

/// Checks the rules over the effective values (each already passed its own key check).
pub(super) fn validate(effective: &BTreeMap<&'static str, String>) -> Result<(), ConfigError> {
    let get = |key: &str| -> i64 {
        effective
            .get(key)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    // (key, relation, other key): key must be >=, <= or < the other, in Kafka's order.
    let rules: [(&str, Rel, &str); 7] = [
        (MAX_HEARTBEAT, Rel::AtLeast, MIN_HEARTBEAT),
        (HEARTBEAT, Rel::AtLeast, MIN_HEARTBEAT),
        (HEARTBEAT, Rel::AtMost, MAX_HEARTBEAT),
        (MAX_SESSION, Rel::AtLeast, MIN_SESSION),
        (SESSION, Rel::AtLeast, MIN_SESSION),
        (SESSION, Rel::AtMost, MAX_SESSION),
        (HEARTBEAT, Rel::Below, SESSION),
    ];
    for (key, rel, other) in rules {
        let (a, b) = (get(key), get(other));
        let (ok, words) = match rel {
            Rel::AtLeast => (a >= b, "greater than or equal to"),
            Rel::AtMost => (a <= b, "less than or equal to"),
            Rel::Below => (a < b, "less than"),
        };
        if !ok {
            return Err(ConfigError::InvalidValue {
                key: key.to_string(),
                value: a.to_string(),
                reason: format!("{key} must be {words} {other} ({b})"),
            });
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Rel {
    AtLeast,
    AtMost,
    Below,
}

#[cfg(test)]
mod tests {
    use crate::config::BrokerConfig;

    fn load(sets: &[&str]) -> Result<BrokerConfig, String> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        BrokerConfig::load(None, std::iter::empty(), &sets).map_err(|e| e.to_string())
    }

    #[test]
    fn consumer_group_timeouts_have_kafkas_defaults_and_pass_its_checks() {
        let cfg = load(&[]).unwrap();
        for (key, value) in [
            ("group.consumer.session.timeout.ms", "45000"),
            ("group.consumer.min.session.timeout.ms", "45000"),
            ("group.consumer.max.session.timeout.ms", "60000"),
            ("group.consumer.heartbeat.interval.ms", "5000"),
            ("group.consumer.min.heartbeat.interval.ms", "5000"),
            ("group.consumer.max.heartbeat.interval.ms", "15000"),
            ("group.consumer.migration.policy", "bidirectional"),
            ("group.min.session.timeout.ms", "6000"),
            ("group.max.session.timeout.ms", "1800000"),
        ] {
            assert_eq!(
                cfg.effective.get(key).map(String::as_str),
                Some(value),
                "{key}"
            );
        }
    }

    #[test]
    fn consumer_group_session_timeout_outside_its_bounds_is_refused() {
        let err = load(&["group.consumer.session.timeout.ms=30000"]).unwrap_err();
        assert!(
            err.contains("must be greater than or equal to group.consumer.min.session.timeout.ms"),
            "{err}"
        );
        let err = load(&["group.consumer.session.timeout.ms=70000"]).unwrap_err();
        assert!(
            err.contains("must be less than or equal to group.consumer.max.session.timeout.ms"),
            "{err}"
        );
        let err = load(&["group.consumer.min.session.timeout.ms=70000"]).unwrap_err();
        assert!(
            err.contains("group.consumer.max.session.timeout.ms must be greater"),
            "{err}"
        );
        // Lowering the bound makes a short session legal, as in Kafka.
        let ok = [
            "group.consumer.min.session.timeout.ms=6000",
            "group.consumer.session.timeout.ms=10000",
        ];
        assert!(load(&ok).is_ok());
    }

    #[test]
    fn consumer_group_heartbeat_must_be_in_bounds_and_below_the_session() {
        let err = load(&["group.consumer.heartbeat.interval.ms=1000"]).unwrap_err();
        assert!(err.contains("min.heartbeat.interval.ms"), "{err}");
        let err = load(&["group.consumer.heartbeat.interval.ms=20000"]).unwrap_err();
        assert!(err.contains("max.heartbeat.interval.ms"), "{err}");
        let err = load(&[
            "group.consumer.min.session.timeout.ms=1000",
            "group.consumer.session.timeout.ms=4000",
            "group.consumer.min.heartbeat.interval.ms=1000",
            "group.consumer.heartbeat.interval.ms=4000",
        ])
        .unwrap_err();
        assert!(
            err.contains(
                "heartbeat.interval.ms must be less than group.consumer.session.timeout.ms"
            ),
            "{err}"
        );
    }

    #[test]
    fn migration_policy_takes_kafkas_four_values() {
        for v in ["bidirectional", "UPGRADE", "downgrade", "disabled"] {
            assert!(
                load(&[&format!("group.consumer.migration.policy={v}")]).is_ok(),
                "{v}"
            );
        }
        assert!(load(&["group.consumer.migration.policy=sideways"]).is_err());
    }
}
