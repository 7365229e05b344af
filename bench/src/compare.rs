//! Compare mode: one scenario against two bootstrap addresses in alternation (A, B, A, B,
//! ...), so that drift on the machine (page cache, other load) falls on both alike.

use serde::Serialize;
use std::fmt::Write as _;

use crate::report::{median, Report};

/// All rounds against both targets, with medians and the A/B ratios of the medians.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub mode: &'static str,
    pub a: Side,
    pub b: Side,
    /// A's median over B's. Above 1 means A is faster for rates and slower for latency and
    /// CPU per GB.
    pub ratio_a_over_b: Summary,
}

#[derive(Debug, Serialize)]
pub struct Side {
    pub bootstrap: String,
    pub median: Summary,
    pub rounds: Vec<Report>,
}

/// The numbers compared; latency and CPU are `None` where a mode or run has none.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub cpu_s_per_gb: Option<f64>,
}

impl Side {
    pub fn new(bootstrap: &str, rounds: Vec<Report>) -> Side {
        let pick = |f: &dyn Fn(&Report) -> Option<f64>| -> Option<f64> {
            let mut v: Vec<f64> = rounds.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| median(&mut v))
        };
        let median = Summary {
            msgs_per_s: pick(&|r| Some(r.msgs_per_s)).unwrap_or(0.0),
            mb_per_s: pick(&|r| Some(r.mb_per_s)).unwrap_or(0.0),
            p50_ms: pick(&|r| r.latency_ms.map(|l| l.p50)),
            p99_ms: pick(&|r| r.latency_ms.map(|l| l.p99)),
            cpu_s_per_gb: pick(&|r| r.broker_cpu.as_ref().map(|c| c.cpu_s_per_gb)),
        };
        Side {
            bootstrap: bootstrap.to_string(),
            median,
            rounds,
        }
    }
}

impl Comparison {
    pub fn new(mode: &'static str, a: Side, b: Side) -> Comparison {
        let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { f64::NAN };
        let opt = |x: Option<f64>, y: Option<f64>| Some(ratio(x?, y?));
        let (ma, mb) = (a.median, b.median);
        let ratio_a_over_b = Summary {
            msgs_per_s: ratio(ma.msgs_per_s, mb.msgs_per_s),
            mb_per_s: ratio(ma.mb_per_s, mb.mb_per_s),
            p50_ms: opt(ma.p50_ms, mb.p50_ms),
            p99_ms: opt(ma.p99_ms, mb.p99_ms),
            cpu_s_per_gb: opt(ma.cpu_s_per_gb, mb.cpu_s_per_gb),
        };
        Comparison {
            mode,
            a,
            b,
            ratio_a_over_b,
        }
    }

    /// Every round, then the medians and ratios.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "fjord-bench {} compare: A = {}, B = {}",
            self.mode, self.a.bootstrap, self.b.bootstrap
        );
        let _ = writeln!(
            out,
            "  {:<8} {:>6} {:>12} {:>10} {:>10} {:>10} {:>10}",
            "", "round", "msg/s", "MB/s", "p50 ms", "p99 ms", "cpu s/GB"
        );
        let rounds = self.a.rounds.iter().zip(&self.b.rounds).enumerate();
        for (i, (ra, rb)) in rounds {
            for (name, r) in [("A", ra), ("B", rb)] {
                let s = Summary {
                    msgs_per_s: r.msgs_per_s,
                    mb_per_s: r.mb_per_s,
                    p50_ms: r.latency_ms.map(|l| l.p50),
                    p99_ms: r.latency_ms.map(|l| l.p99),
                    cpu_s_per_gb: r.broker_cpu.as_ref().map(|c| c.cpu_s_per_gb),
                };
                row(&mut out, name, &(i + 1).to_string(), &s);
            }
        }
        row(&mut out, "A", "median", &self.a.median);
        row(&mut out, "B", "median", &self.b.median);
        row(&mut out, "A/B", "ratio", &self.ratio_a_over_b);
        out
    }
}

fn row(out: &mut String, name: &str, round: &str, s: &Summary) {
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    // Ratios near 1 need decimals; absolute rates do not.
    let (msgs, mb) = if round == "ratio" {
        (format!("{:.3}", s.msgs_per_s), format!("{:.3}", s.mb_per_s))
    } else {
        (format!("{:.0}", s.msgs_per_s), format!("{:.1}", s.mb_per_s))
    };
    let _ = writeln!(
        out,
        "  {:<8} {:>6} {:>12} {:>10} {:>10} {:>10} {:>10}",
        name,
        round,
        msgs,
        mb,
        opt(s.p50_ms),
        opt(s.p99_ms),
        opt(s.cpu_s_per_gb)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bootstrap: &str, msgs_per_s: f64) -> Report {
        let mut r = Report::new("produce", bootstrap, "t");
        r.counted(msgs_per_s as u64, msgs_per_s as u64 * 100, 1.0);
        r
    }

    #[test]
    fn ratios_are_of_the_medians_over_rounds() {
        let a = Side::new(
            "a:1",
            vec![run("a:1", 100.0), run("a:1", 300.0), run("a:1", 200.0)],
        );
        let b = Side::new(
            "b:1",
            vec![run("b:1", 100.0), run("b:1", 50.0), run("b:1", 400.0)],
        );
        let c = Comparison::new("produce", a, b);
        assert_eq!(c.a.median.msgs_per_s, 200.0);
        assert_eq!(c.b.median.msgs_per_s, 100.0);
        assert_eq!(c.ratio_a_over_b.msgs_per_s, 2.0);
        assert_eq!(c.ratio_a_over_b.p99_ms, None);
        assert!(c.table().contains("ratio        2.000"));
    }
}
