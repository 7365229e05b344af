//! `fjord-bench`: messages/s, MB/s, latency percentiles and broker CPU seconds per GB against
//! any Kafka-compatible bootstrap address, on librdkafka, so Fjord and another broker can be
//! measured by the same client in the same run.

mod client;
mod compare;
mod consume;
mod cpu;
mod failover;
mod latency;
mod produce;
mod report;

use clap::{Parser, Subcommand};

use report::Report;

#[derive(Parser)]
#[command(name = "fjord-bench", version, about)]
struct Cli {
    /// Kafka bootstrap address (host:port) of the broker under test (A).
    #[arg(long, global = true, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Pid of broker A: report its CPU seconds and CPU seconds per GB (Linux /proc).
    #[arg(long, global = true)]
    broker_pid: Option<u32>,
    /// Also run the scenario against this bootstrap address (B), alternating A, B, A, B ...,
    /// and print A/B ratios.
    #[arg(long, global = true)]
    compare_bootstrap: Option<String>,
    /// Pid of broker B in compare mode.
    #[arg(long, global = true)]
    compare_broker_pid: Option<u32>,
    /// Rounds per side in compare mode.
    #[arg(long, global = true, default_value_t = 3)]
    rounds: u32,
    /// One JSON object on stdout instead of the table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Produce as fast as possible: throughput and acknowledgement latency.
    Produce(produce::Args),
    /// Consume a topic from the earliest offset: throughput.
    Consume(consume::Args),
    /// End-to-end latency at a fixed message rate.
    Latency(latency::Args),
    /// Kill the leader of a replicated partition under a steady idempotent `acks=all`
    /// producer: time to the first acknowledgement afterwards.
    Failover(failover::Args),
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Scenario::Produce(_) => "produce",
            Scenario::Consume(_) => "consume",
            Scenario::Latency(_) => "latency",
            Scenario::Failover(_) => "failover",
        }
    }

    fn run(&self, bootstrap: &str) -> anyhow::Result<Report> {
        match self {
            Scenario::Produce(args) => produce::run(bootstrap, args),
            Scenario::Consume(args) => consume::run(bootstrap, args),
            Scenario::Latency(args) => latency::run(bootstrap, args),
            Scenario::Failover(args) => failover::run(bootstrap, args),
        }
    }

    /// One run, with the broker's CPU time around it when its pid is known.
    fn measure(&self, bootstrap: &str, broker_pid: Option<u32>) -> anyhow::Result<Report> {
        let before = broker_pid.map(cpu::Sample::take).transpose()?;
        let client_before = cpu::Sample::take(std::process::id())?;
        let mut report = self.run(bootstrap)?;
        let client = client_before.since(cpu::Sample::take(std::process::id())?, 0);
        report.client_cpu_s = client.cpu_s;
        if let (Some(before), Some(pid)) = (before, broker_pid) {
            let after = cpu::Sample::take(pid)?;
            report.broker_cpu = Some(before.since(after, report.cpu_bytes));
        }
        Ok(report)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.compare_bootstrap {
        None => {
            let report = cli.scenario.measure(&cli.bootstrap, cli.broker_pid)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.table());
            }
        }
        Some(b) => {
            let (mut runs_a, mut runs_b) = (Vec::new(), Vec::new());
            for round in 1..=cli.rounds {
                eprintln!("fjord-bench: round {round}/{}: A", cli.rounds);
                runs_a.push(cli.scenario.measure(&cli.bootstrap, cli.broker_pid)?);
                eprintln!("fjord-bench: round {round}/{}: B", cli.rounds);
                runs_b.push(cli.scenario.measure(b, cli.compare_broker_pid)?);
            }
            let comparison = compare::Comparison::new(
                cli.scenario.name(),
                compare::Side::new(&cli.bootstrap, runs_a),
                compare::Side::new(b, runs_b),
            );
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&comparison)?);
            } else {
                print!("{}", comparison.table());
            }
        }
    }
    Ok(())
}
