//! Prometheus metrics of the broker. Names follow Kafka's meaning with a `fjord_` prefix.

use kafka_protocol::messages::ApiKey;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use std::time::Duration;

/// The broker's metric families. Safe to share between threads.
pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub request_failures: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub response_errors: IntCounterVec,
    pub connections: IntGauge,
    pub bytes_in: IntCounterVec,
    pub bytes_out: IntCounterVec,
    pub messages_in: IntCounterVec,
    /// ISR changes this broker, as a partition leader, had committed (Kafka's
    /// IsrShrinksPerSec / IsrExpandsPerSec as counters).
    pub isr_shrinks: prometheus::IntCounter,
    pub isr_expands: prometheus::IntCounter,
    /// Bytes of throttled out-of-sync replicas that passed a replication quota, and the
    /// times a throttled partition was held back because its quota was exceeded, by side
    /// (`leader`, `follower`): Kafka's LeaderReplication/FollowerReplication byte rates and
    /// throttle counts.
    pub throttled_bytes: IntCounterVec,
    pub throttled_fetches: IntCounterVec,
    /// Response bytes held in memory now (encoded responses, chunks read for streaming).
    pub response_buffer_bytes: IntGauge,
    /// The most [`Metrics::response_buffer_bytes`] has been since start.
    pub response_buffer_bytes_max: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("fjord_requests_total", "Requests served, by API."),
            &["api"],
        )
        .expect("valid metric");
        let request_failures = IntCounterVec::new(
            Opts::new(
                "fjord_request_failures_total",
                "Requests that closed their connection (malformed or not encodable), by API.",
            ),
            &["api"],
        )
        .expect("valid metric");
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "fjord_request_duration_seconds",
                "Time from a decoded request to its encoded response, by API.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0,
            ]),
            &["api"],
        )
        .expect("valid metric");
        let response_errors = IntCounterVec::new(
            Opts::new(
                "fjord_response_errors_total",
                "Kafka error codes returned in responses, by API and error name.",
            ),
            &["api", "error"],
        )
        .expect("valid metric");
        let connections = IntGauge::new("fjord_active_connections", "Open client connections.")
            .expect("valid metric");
        let bytes_in = IntCounterVec::new(
            Opts::new(
                "fjord_bytes_in_total",
                "Record batch bytes appended, by topic.",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let bytes_out = IntCounterVec::new(
            Opts::new(
                "fjord_bytes_out_total",
                "Record batch bytes served to fetches, by topic.",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let messages_in = IntCounterVec::new(
            Opts::new("fjord_messages_in_total", "Records appended, by topic."),
            &["topic"],
        )
        .expect("valid metric");
        let isr_shrinks = prometheus::IntCounter::new(
            "fjord_isr_shrinks_total",
            "ISR shrinks of partitions this broker leads, committed by the controller.",
        )
        .expect("valid metric");
        let isr_expands = prometheus::IntCounter::new(
            "fjord_isr_expands_total",
            "ISR expansions of partitions this broker leads, committed by the controller.",
        )
        .expect("valid metric");
        let throttled_bytes = IntCounterVec::new(
            Opts::new(
                "fjord_replication_throttled_bytes_total",
                "Bytes of throttled out-of-sync replicas counted against a replication quota (KIP-73), by side.",
            ),
            &["side"],
        )
        .expect("valid metric");
        let throttled_fetches = IntCounterVec::new(
            Opts::new(
                "fjord_replication_throttled_total",
                "Times a throttled replica's data was held back because its replication quota was exceeded, by side.",
            ),
            &["side"],
        )
        .expect("valid metric");
        // Both sides exist from the start, at zero, so dashboards and alerts see them.
        for side in ["leader", "follower"] {
            throttled_bytes.with_label_values(&[side]);
            throttled_fetches.with_label_values(&[side]);
        }
        let response_buffer_bytes = IntGauge::new(
            "fjord_response_buffer_bytes",
            "Response bytes held in memory for writing to clients (fetch data is streamed from the log in bounded chunks).",
        )
        .expect("valid metric");
        let response_buffer_bytes_max = IntGauge::new(
            "fjord_response_buffer_bytes_max",
            "The largest value fjord_response_buffer_bytes has had since start.",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(isr_shrinks.clone()),
            Box::new(isr_expands.clone()),
            Box::new(throttled_bytes.clone()),
            Box::new(throttled_fetches.clone()),
            Box::new(response_buffer_bytes.clone()),
            Box::new(response_buffer_bytes_max.clone()),
            Box::new(request_failures.clone()),
            Box::new(request_seconds.clone()),
            Box::new(response_errors.clone()),
            Box::new(connections.clone()),
            Box::new(bytes_in.clone()),
            Box::new(bytes_out.clone()),
            Box::new(messages_in.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            request_failures,
            request_seconds,
            response_errors,
            connections,
            bytes_in,
            bytes_out,
            messages_in,
            isr_shrinks,
            isr_expands,
            throttled_bytes,
            throttled_fetches,
            response_buffer_bytes,
            response_buffer_bytes_max,
        }
    }

    /// Counts `bytes` of response buffer as held until the returned guard drops.
    pub fn hold_response_bytes(&self, bytes: usize) -> HeldBytes {
        let bytes = bytes as i64;
        self.response_buffer_bytes.add(bytes);
        let now = self.response_buffer_bytes.get();
        if now > self.response_buffer_bytes_max.get() {
            self.response_buffer_bytes_max.set(now);
        }
        HeldBytes {
            gauge: self.response_buffer_bytes.clone(),
            bytes,
        }
    }

    pub fn observe_request(&self, api: ApiKey, elapsed: Duration, ok: bool) {
        let name = api_name(api);
        self.requests.with_label_values(&[name]).inc();
        if !ok {
            self.request_failures.with_label_values(&[name]).inc();
        }
        self.request_seconds
            .with_label_values(&[name])
            .observe(elapsed.as_secs_f64());
    }

    pub fn response_error(&self, api: &str, code: i16) {
        let name = crate::api::error_codes::error_name(code);
        self.response_errors.with_label_values(&[api, &name]).inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Kafka's API name, e.g. `Produce`.
pub fn api_name(api: ApiKey) -> &'static str {
    match api {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DeleteRecords => "DeleteRecords",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::ElectLeaders => "ElectLeaders",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::AlterPartitionReassignments => "AlterPartitionReassignments",
        ApiKey::ListPartitionReassignments => "ListPartitionReassignments",
        ApiKey::DescribeQuorum => "DescribeQuorum",
        ApiKey::AddRaftVoter => "AddRaftVoter",
        ApiKey::RemoveRaftVoter => "RemoveRaftVoter",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::DeleteGroups => "DeleteGroups",
        ApiKey::OffsetDelete => "OffsetDelete",
        ApiKey::ConsumerGroupHeartbeat => "ConsumerGroupHeartbeat",
        ApiKey::ConsumerGroupDescribe => "ConsumerGroupDescribe",
        _ => "Other",
    }
}

/// Response bytes counted in `fjord_response_buffer_bytes` while alive.
pub struct HeldBytes {
    gauge: IntGauge,
    bytes: i64,
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        self.gauge.sub(self.bytes);
    }
}
