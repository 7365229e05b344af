//! The operator's own Prometheus metrics.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::error::Error;

/// Reconcile counters and durations, by controller.
pub struct Metrics {
    registry: Registry,
    reconciles: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    /// 1 while this replica holds the leader Lease.
    pub leader: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new(
                "fjord_operator_reconciles_total",
                "Reconciles by controller and result.",
            ),
            &["controller", "result"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "fjord_operator_reconcile_errors_total",
                "Failed reconciles by controller and reason.",
            ),
            &["controller", "reason"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "fjord_operator_reconcile_duration_seconds",
                "Time a reconcile took.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["controller"],
        )
        .expect("valid metric");
        let leader = IntGauge::new(
            "fjord_operator_leader",
            "1 while this replica is the leader.",
        )
        .expect("valid metric");
        for c in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(errors.clone()),
            Box::new(duration.clone()),
            Box::new(leader.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Metrics {
            registry,
            reconciles,
            errors,
            duration,
            leader,
        }
    }

    /// Records one reconcile of `controller`.
    pub fn observe<T>(&self, controller: &str, result: &Result<T, Error>, elapsed: Duration) {
        self.duration
            .with_label_values(&[controller])
            .observe(elapsed.as_secs_f64());
        let outcome = match result {
            Ok(_) => "success",
            Err(e) => {
                self.errors
                    .with_label_values(&[controller, e.reason()])
                    .inc();
                "error"
            }
        };
        self.reconciles
            .with_label_values(&[controller, outcome])
            .inc();
    }

    /// Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // Encoding registered metrics into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_and_errors_are_counted_by_label() {
        let m = Metrics::new();
        m.observe::<()>("cluster", &Ok(()), Duration::from_millis(5));
        m.observe::<()>(
            "topic",
            &Err(Error::MissingObjectKey("uid")),
            Duration::from_millis(5),
        );
        let text = m.encode();
        assert!(
            text.contains(
                r#"fjord_operator_reconciles_total{controller="cluster",result="success"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"fjord_operator_reconcile_errors_total{controller="topic",reason="missing_object_key"} 1"#));
        assert!(text.contains("fjord_operator_reconcile_duration_seconds_bucket"));
    }
}
