//! Broker CPU time from `/proc/PID/stat`: user + system time of all its threads.

use anyhow::{bail, Context};
use serde::Serialize;

use crate::report::GB;

/// CPU the broker spent during a run.
#[derive(Debug, Clone, Serialize)]
pub struct BrokerCpu {
    pub pid: u32,
    /// utime + stime consumed between the start and the end of the run.
    pub cpu_s: f64,
    /// `cpu_s` divided by the gigabytes (10^9 bytes) the run produced or consumed.
    pub cpu_s_per_gb: f64,
}

/// A reading of a process's CPU clock, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pid: u32,
    ticks: u64,
}

impl Sample {
    pub fn take(pid: u32) -> anyhow::Result<Sample> {
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        Ok(Sample {
            pid,
            ticks: utime_plus_stime(&stat)?,
        })
    }

    /// The CPU spent since `self`, charged to `bytes` moved.
    pub fn since(self, later: Sample, bytes: u64) -> BrokerCpu {
        let cpu_s = later.ticks.saturating_sub(self.ticks) as f64 / clock_ticks_per_second() as f64;
        let gb = bytes as f64 / GB;
        BrokerCpu {
            pid: self.pid,
            cpu_s,
            cpu_s_per_gb: if gb > 0.0 { cpu_s / gb } else { 0.0 },
        }
    }
}

/// Fields 14 and 15 (utime, stime) of a `/proc/PID/stat` line. The second field, the
/// command name, is in parentheses and may itself hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn utime_plus_stime(stat: &str) -> anyhow::Result<u64> {
    let Some(close) = stat.rfind(')') else {
        bail!("no `(comm)` field in /proc stat line");
    };
    // After the comm come field 3 (state), 4 (ppid), ... so utime (14) is the 12th of them.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    if fields.len() < 13 {
        bail!(
            "/proc stat line has {} fields after comm, want at least 13",
            fields.len()
        );
    }
    let utime: u64 = fields[11].parse().context("utime is not a number")?;
    let stime: u64 = fields[12].parse().context("stime is not a number")?;
    Ok(utime + stime)
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` because this crate has no `unsafe` for libc;
/// Linux has used 100 on every mainstream architecture for decades, so that is the fallback.
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_fields_14_and_15() {
        let line = "4242 (fjord-broker) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                    1234 567 0 0 20 0 9 0 100 1000000 500 18446744073709551615";
        assert_eq!(utime_plus_stime(line).unwrap(), 1234 + 567);
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_fields() {
        let line = "7 (my (odd) broker) R 1 7 7 0 -1 0 0 0 0 0 10 5 0 0 20 0 1 0 1 1 1";
        assert_eq!(utime_plus_stime(line).unwrap(), 15);
    }

    #[test]
    fn truncated_or_garbled_lines_are_errors() {
        assert!(utime_plus_stime("7 (x) R 1 2 3").is_err());
        assert!(utime_plus_stime("no parentheses here").is_err());
        assert!(utime_plus_stime("7 (x) R 1 7 7 0 -1 0 0 0 0 0 ten 5 0").is_err());
    }

    #[test]
    fn this_process_can_be_sampled() {
        let before = Sample::take(std::process::id()).unwrap();
        let after = Sample::take(std::process::id()).unwrap();
        let cpu = before.since(after, 1_000_000_000);
        assert!(cpu.cpu_s >= 0.0);
        assert_eq!(cpu.cpu_s, cpu.cpu_s_per_gb);
    }
}
