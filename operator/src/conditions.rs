//! Building standard `metav1.Condition`s, keeping `lastTransitionTime` when nothing changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// One condition to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Cond {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Cond {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// The conditions to store: `wanted` in order, each keeping the transition time of the previous
/// condition of its type when its status did not change.
pub fn conditions(
    wanted: &[Cond],
    previous: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    wanted
        .iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" };
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: c.type_.into(),
                status: status.into(),
                reason: c.reason.into(),
                message: c.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// The status of condition `type_`, if present.
pub fn condition_status<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn transition_time_is_kept_while_status_holds() {
        let first = conditions(&[Cond::new("Ready", false, "A", "")], &[], Some(1), &t(10));
        let second = conditions(
            &[Cond::new("Ready", false, "B", "x")],
            &first,
            Some(2),
            &t(20),
        );
        assert_eq!(second[0].last_transition_time, t(10));
        assert_eq!(second[0].reason, "B");
        assert_eq!(second[0].observed_generation, Some(2));
        let third = conditions(
            &[Cond::new("Ready", true, "C", "")],
            &second,
            Some(2),
            &t(30),
        );
        assert_eq!(third[0].last_transition_time, t(30));
        assert_eq!(condition_status(&third, "Ready"), Some("True"));
    }
}
