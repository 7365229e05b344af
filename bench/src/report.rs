//! What a run measured, and how it is shown: percentiles, a table for people, JSON for tools.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::cpu::BrokerCpu;

/// Bytes in a megabyte and a gigabyte as reported here (decimal, like network rates).
pub const MB: f64 = 1e6;
pub const GB: f64 = 1e9;

/// The outcome of one scenario run against one bootstrap address.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `produce`, `consume` or `latency`.
    pub mode: &'static str,
    pub bootstrap: String,
    pub topic: String,
    /// Messages that counted: delivered (produce), received (consume), measured (latency).
    pub messages: u64,
    /// Payload bytes (key + value) of those messages.
    pub bytes: u64,
    /// Failed deliveries or client errors seen during the run.
    pub errors: u64,
    pub elapsed_s: f64,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    /// Produce: send to acknowledgement. Latency: producer send to consumer receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Percentiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_cpu: Option<BrokerCpu>,
    /// CPU seconds fjord-bench itself used (librdkafka threads included): on a machine
    /// shared by client and broker, a client near its own limit caps what the broker shows.
    pub client_cpu_s: f64,
    /// The knobs this run used (message size, acks, linger.ms, ...), for the record.
    pub settings: BTreeMap<&'static str, String>,
    /// Every byte the run moved through the broker (warm-up included), the denominator of
    /// CPU seconds per GB.
    #[serde(skip)]
    pub cpu_bytes: u64,
}

impl Report {
    pub fn new(mode: &'static str, bootstrap: &str, topic: &str) -> Report {
        Report {
            mode,
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
            messages: 0,
            bytes: 0,
            errors: 0,
            elapsed_s: 0.0,
            msgs_per_s: 0.0,
            mb_per_s: 0.0,
            latency_ms: None,
            broker_cpu: None,
            client_cpu_s: 0.0,
            settings: BTreeMap::new(),
            cpu_bytes: 0,
        }
    }

    /// Sets the counts and derives the rates from them.
    pub fn counted(&mut self, messages: u64, bytes: u64, elapsed_s: f64) {
        self.messages = messages;
        self.bytes = bytes;
        self.cpu_bytes = self.cpu_bytes.max(bytes);
        self.elapsed_s = elapsed_s;
        let secs = elapsed_s.max(f64::MIN_POSITIVE);
        self.msgs_per_s = messages as f64 / secs;
        self.mb_per_s = bytes as f64 / MB / secs;
    }

    pub fn set(&mut self, key: &'static str, value: impl ToString) {
        self.settings.insert(key, value.to_string());
    }

    /// A two-column table for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "fjord-bench {} against {} (topic {})",
            self.mode, self.bootstrap, self.topic
        );
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "  settings      {}", settings.join(" "));
        let _ = writeln!(out, "  messages      {}", self.messages);
        let _ = writeln!(out, "  bytes         {}", self.bytes);
        let _ = writeln!(out, "  errors        {}", self.errors);
        let _ = writeln!(out, "  elapsed       {:.3} s", self.elapsed_s);
        let _ = writeln!(
            out,
            "  throughput    {:.0} msg/s   {:.1} MB/s",
            self.msgs_per_s, self.mb_per_s
        );
        if let Some(p) = &self.latency_ms {
            let _ = writeln!(
                out,
                "  latency ms    p50 {:.3}  p95 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({} samples)",
                p.p50, p.p95, p.p99, p.p999, p.max, p.samples
            );
        }
        if let Some(c) = &self.broker_cpu {
            let _ = writeln!(
                out,
                "  broker cpu    {:.2} s (pid {})   {:.3} s per GB",
                c.cpu_s, c.pid, c.cpu_s_per_gb
            );
        }
        let _ = writeln!(out, "  client cpu    {:.2} s", self.client_cpu_s);
        out
    }
}

/// Latency percentiles in milliseconds, by the nearest-rank method.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub samples: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// From samples in microseconds; `None` when there are none.
    pub fn from_micros(mut samples: Vec<u64>) -> Option<Percentiles> {
        samples.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Percentiles {
            samples: samples.len() as u64,
            p50: ms(nearest_rank(&samples, 50.0)?),
            p95: ms(nearest_rank(&samples, 95.0)?),
            p99: ms(nearest_rank(&samples, 99.0)?),
            p999: ms(nearest_rank(&samples, 99.9)?),
            max: ms(*samples.last()?),
        })
    }
}

/// The smallest sample with at least `p` percent of the samples at or below it
/// (`sorted` ascending). Nearest rank never interpolates, so every percentile reported is a
/// latency that some message really had.
pub fn nearest_rank(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // The epsilon keeps 99.9 % of 1000 at rank 999, not 1000, despite binary floating point.
    let rank = ((p / 100.0) * n as f64 - 1e-9).ceil().clamp(1.0, n as f64) as usize;
    Some(sorted[rank - 1])
}

/// The median of some values (mean of the middle two for an even count); 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_the_sample_at_the_ceiling_rank() {
        let one_to_hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&one_to_hundred, 50.0), Some(50));
        assert_eq!(nearest_rank(&one_to_hundred, 95.0), Some(95));
        assert_eq!(nearest_rank(&one_to_hundred, 99.0), Some(99));
        assert_eq!(nearest_rank(&one_to_hundred, 99.9), Some(100));
        assert_eq!(nearest_rank(&one_to_hundred, 100.0), Some(100));
        assert_eq!(nearest_rank(&one_to_hundred, 0.0), Some(1));
    }

    #[test]
    fn p999_of_a_thousand_samples_is_the_999th_not_the_max() {
        let samples: Vec<u64> = (1..=1000).collect();
        assert_eq!(nearest_rank(&samples, 99.9), Some(999));
        assert_eq!(nearest_rank(&samples, 99.0), Some(990));
    }

    #[test]
    fn a_single_sample_is_every_percentile() {
        assert_eq!(nearest_rank(&[7], 50.0), Some(7));
        assert_eq!(nearest_rank(&[7], 99.9), Some(7));
        assert_eq!(nearest_rank(&[], 50.0), None);
    }

    #[test]
    fn percentiles_sort_and_convert_microseconds_to_milliseconds() {
        let p = Percentiles::from_micros(vec![4000, 1000, 3000, 2000]).unwrap();
        assert_eq!(p.samples, 4);
        assert_eq!(p.p50, 2.0);
        assert_eq!(p.p99, 4.0);
        assert_eq!(p.max, 4.0);
        assert_eq!(Percentiles::from_micros(Vec::new()), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn rates_are_derived_from_counts() {
        let mut r = Report::new("produce", "a:1", "t");
        r.counted(2_000, 2_000_000, 2.0);
        assert_eq!(r.msgs_per_s, 1_000.0);
        assert_eq!(r.mb_per_s, 1.0);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["messages"], 2_000);
        assert!(json.get("cpu_bytes").is_none());
    }
}
