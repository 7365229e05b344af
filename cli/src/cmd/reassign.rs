//! `fjord reassign`: move partitions between brokers and change replication factors, with the
//! JSON plan format of Kafka's `kafka-reassign-partitions.sh`
//! (`{"version":1,"partitions":[{"topic":..,"partition":..,"replicas":[..]}]}`), and its
//! replication throttles (`execute --throttle`, cleared by `verify` and `cancel`).

mod throttle;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use fjord_client::{AdminClient, Reassignment};
use serde::{Deserialize, Serialize};

use crate::failure::Usage;
use crate::output::{self, Format, Report};
use crate::table::{self, ids};
use throttle::{Cleared, Throttles};

#[derive(Debug, Subcommand)]
pub enum ReassignCommand {
    /// Print a balanced plan placing the partitions of `--topics` on `--brokers` (and the
    /// current assignment, to roll back with).
    Generate(GenerateArgs),
    /// Start the reassignments of a plan.
    Execute(ExecuteArgs),
    /// Whether each partition of a plan is complete, in progress or failed; once all are
    /// complete, remove the replication throttles. `--wait` follows the moves with a
    /// progress bar until none is in progress.
    Verify(VerifyArgs),
    /// Cancel the ongoing reassignments of a plan's partitions (they keep their old replicas)
    /// and remove the replication throttles.
    Cancel(ClearingArgs),
    /// The reassignments in progress in the cluster.
    List,
}

#[derive(Debug, ClapArgs)]
pub struct GenerateArgs {
    /// Topics to place, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub topics: Vec<String>,
    /// Broker ids to place them on, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub brokers: Vec<i32>,
    /// Replicas per partition [default: each partition's current count].
    #[arg(long)]
    pub replication_factor: Option<usize>,
}

#[derive(Debug, ClapArgs)]
pub struct PlanFile {
    /// A plan in kafka-reassign-partitions.sh's JSON format.
    #[arg(long, value_name = "FILE")]
    pub reassignment_json_file: PathBuf,
}

#[derive(Debug, ClapArgs)]
pub struct ExecuteArgs {
    #[command(flatten)]
    pub plan: PlanFile,
    /// Throttle the moves' replication to this many bytes/s, on each side of every broker
    /// involved, until `verify` finds the plan complete.
    #[arg(long, value_name = "BYTES_PER_SEC")]
    pub throttle: Option<u64>,
}

#[derive(Debug, ClapArgs)]
pub struct ClearingArgs {
    #[command(flatten)]
    pub plan: PlanFile,
    /// Leave the replication throttles in place.
    #[arg(long)]
    pub preserve_throttles: bool,
}

#[derive(Debug, ClapArgs)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub clearing: ClearingArgs,
    /// Poll until no partition of the plan is in progress, drawing a progress bar on
    /// stderr, then verify.
    #[arg(long)]
    pub wait: bool,
    /// With `--wait`: give up (exit 1) after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub wait_timeout: u64,
}

/// The plan file: Kafka's reassignment JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub version: i32,
    pub partitions: Vec<PlannedPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedPartition {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
}

pub async fn run(
    admin: &AdminClient,
    command: ReassignCommand,
    format: Format,
) -> anyhow::Result<()> {
    match command {
        ReassignCommand::Generate(a) => generate(admin, a, format).await,
        ReassignCommand::Execute(a) => {
            let plan = read_plan(&a.plan.reassignment_json_file)?;
            execute(admin, &plan, a.throttle, format).await
        }
        ReassignCommand::Cancel(a) => {
            let plan = read_plan(&a.plan.reassignment_json_file)?;
            cancel(admin, &plan, a.preserve_throttles, format).await
        }
        ReassignCommand::Verify(a) => {
            let plan = read_plan(&a.clearing.plan.reassignment_json_file)?;
            if a.wait {
                wait(admin, &plan, std::time::Duration::from_secs(a.wait_timeout)).await?;
            }
            verify(admin, &plan, a.clearing.preserve_throttles, format).await
        }
        ReassignCommand::List => list(admin, format).await,
    }
}

fn read_plan(path: &Path) -> anyhow::Result<Plan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        Usage(format!(
            "{} is not a reassignment plan: {e}",
            path.display()
        ))
    })?;
    if plan.version != 1 {
        return Err(Usage(format!(
            "plan version {} is not supported (1 is)",
            plan.version
        ))
        .into());
    }
    Ok(plan)
}

#[derive(Debug, Serialize)]
struct Generated {
    current: Plan,
    proposed: Plan,
}

impl Report for Generated {
    fn human(&self) -> String {
        let json = |p: &Plan| serde_json::to_string(p).unwrap_or_default();
        format!(
            "Current partition replica assignment\n{}\n\nProposed partition reassignment configuration\n{}\n",
            json(&self.current),
            json(&self.proposed)
        )
    }
}

async fn generate(admin: &AdminClient, a: GenerateArgs, format: Format) -> anyhow::Result<()> {
    let mut brokers = a.brokers.clone();
    brokers.sort_unstable();
    brokers.dedup();
    if brokers.is_empty() {
        return Err(Usage("--brokers names no broker".into()).into());
    }
    let mut current = Vec::new();
    for topic in &a.topics {
        let info = admin
            .describe_topic(topic)
            .await?
            .ok_or_else(|| Usage(format!("topic {topic:?} does not exist")))?;
        current.extend(info.partitions.iter().map(|p| PlannedPartition {
            topic: topic.clone(),
            partition: p.partition,
            replicas: p.replicas.clone(),
        }));
    }
    let proposed = balanced(&current, &brokers, a.replication_factor)?;
    let plan = |partitions| Plan {
        version: 1,
        partitions,
    };
    output::print(
        &Generated {
            current: plan(current),
            proposed: plan(proposed),
        },
        format,
    )
}

/// Round-robin placement over `brokers` (sorted): partition `p` of a topic starts on the broker
/// after the previous partition's first, from an offset that differs per topic, and its other
/// replicas follow in order, so leaders and replicas spread evenly.
fn balanced(
    current: &[PlannedPartition],
    brokers: &[i32],
    replication_factor: Option<usize>,
) -> anyhow::Result<Vec<PlannedPartition>> {
    let n = brokers.len();
    current
        .iter()
        .map(|c| {
            let rf = replication_factor.unwrap_or(c.replicas.len()).max(1);
            if rf > n {
                return Err(Usage(format!(
                    "{}-{} needs {rf} replicas but only {n} broker(s) were given",
                    c.topic, c.partition
                ))
                .into());
            }
            let start = c.topic.bytes().map(usize::from).sum::<usize>() % n;
            let first = start + usize::try_from(c.partition).unwrap_or(0);
            Ok(PlannedPartition {
                topic: c.topic.clone(),
                partition: c.partition,
                replicas: (0..rf).map(|j| brokers[(first + j) % n]).collect(),
            })
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct Outcome {
    topic: String,
    partition: i32,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Outcomes {
    action: &'static str,
    partitions: Vec<Outcome>,
    /// `execute --throttle`: the throttles set.
    #[serde(skip_serializing_if = "Option::is_none")]
    throttle: Option<Throttles>,
    /// `cancel`: the throttles removed (none with `--preserve-throttles`).
    #[serde(skip_serializing_if = "Option::is_none")]
    cleared: Option<Cleared>,
}

impl Report for Outcomes {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .partitions
            .iter()
            .map(|o| {
                vec![
                    o.topic.clone(),
                    o.partition.to_string(),
                    o.error.clone().unwrap_or_else(|| self.action.to_owned()),
                ]
            })
            .collect();
        let mut out = table::render(&["TOPIC", "PARTITION", "RESULT"], &rows);
        if let Some(t) = &self.throttle {
            out.push_str(&format!(
                "\nReplication throttled to {} B/s on brokers {}; run `fjord reassign verify` until \
                 every partition is complete, which removes the throttles.\n",
                t.rate,
                ids(&t.brokers)
            ));
        }
        if let Some(c) = &self.cleared {
            out.push_str(&cleared_line(c));
        }
        out
    }
}

fn cleared_line(c: &Cleared) -> String {
    format!(
        "\nReplication throttles removed from brokers {} and topics {}.\n",
        ids(&c.brokers),
        c.topics.join(",")
    )
}

/// The topics a plan names.
fn topics(plan: &Plan) -> BTreeSet<String> {
    plan.partitions.iter().map(|p| p.topic.clone()).collect()
}

/// The plan's partitions as `(topic, partition)`.
fn named(plan: &Plan) -> Vec<(String, i32)> {
    plan.partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect()
}

/// Starts (or, with `cancel`, cancels) the plan's reassignments: each partition's outcome.
async fn alter(admin: &AdminClient, plan: &Plan, cancel: bool) -> anyhow::Result<Vec<Outcome>> {
    let moves: Vec<Reassignment> = plan
        .partitions
        .iter()
        .map(|p| Reassignment {
            topic: p.topic.clone(),
            partition: p.partition,
            replicas: (!cancel).then(|| p.replicas.clone()),
        })
        .collect();
    let results = admin.alter_partition_reassignments(&moves).await?;
    Ok(moves
        .iter()
        .zip(results)
        .map(|(m, r)| Outcome {
            topic: m.topic.clone(),
            partition: m.partition,
            error: r.err().map(|e| e.to_string()),
        })
        .collect())
}

/// Prints `outcomes`, failing when a partition was refused.
fn report(outcomes: &Outcomes, format: Format) -> anyhow::Result<()> {
    output::print(outcomes, format)?;
    let failed = outcomes
        .partitions
        .iter()
        .filter(|o| o.error.is_some())
        .count();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} partition(s) were refused",
            outcomes.partitions.len()
        );
    }
    Ok(())
}

/// Every partition's replicas now, for the topics `plan` names (missing topics left out).
async fn current_replicas(
    admin: &AdminClient,
    plan: &Plan,
) -> anyhow::Result<BTreeMap<(String, i32), Vec<i32>>> {
    let mut current = BTreeMap::new();
    for topic in topics(plan) {
        if let Some(info) = admin.describe_topic(&topic).await? {
            for p in info.partitions {
                current.insert((topic.clone(), p.partition), p.replicas);
            }
        }
    }
    Ok(current)
}

/// Sets the throttles first, as Kafka's tool does, so no byte of a move goes unthrottled.
async fn execute(
    admin: &AdminClient,
    plan: &Plan,
    rate: Option<u64>,
    format: Format,
) -> anyhow::Result<()> {
    let throttle = match rate {
        Some(rate) => {
            let ongoing = admin.list_partition_reassignments(&named(plan)).await?;
            let current = current_replicas(admin, plan).await?;
            let throttles = Throttles::plan(rate, &plan.partitions, &current, &ongoing);
            throttles.apply(admin).await?;
            Some(throttles)
        }
        None => None,
    };
    let partitions = alter(admin, plan, false).await?;
    let outcomes = Outcomes {
        action: "started",
        partitions,
        throttle,
        cleared: None,
    };
    report(&outcomes, format)
}

async fn cancel(
    admin: &AdminClient,
    plan: &Plan,
    preserve_throttles: bool,
    format: Format,
) -> anyhow::Result<()> {
    let partitions = alter(admin, plan, true).await?;
    let cleared = if preserve_throttles {
        None
    } else {
        Some(throttle::clear(admin, topics(plan)).await?)
    };
    let outcomes = Outcomes {
        action: "cancelled",
        partitions,
        throttle: None,
        cleared,
    };
    report(&outcomes, format)
}

/// A partition's state against its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Status {
    /// No reassignment in progress and the replicas are the target.
    #[serde(rename = "complete")]
    Complete,
    /// A reassignment is in progress.
    #[serde(rename = "in progress")]
    InProgress,
    /// No reassignment in progress, but the replicas are not the target (the move was
    /// cancelled or replaced, or never started).
    #[serde(rename = "failed")]
    Failed,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::InProgress => "in progress",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Serialize)]
struct Progress {
    topic: String,
    partition: i32,
    target: Vec<i32>,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    status: Status,
}

/// What `verify` did with the replication throttles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum ThrottleAction {
    /// Every partition is complete: removed.
    Cleared,
    /// Some partition is not complete: left in place.
    Kept,
    /// `--preserve-throttles`.
    Preserved,
}

#[derive(Debug, Serialize)]
struct Verified {
    partitions: Vec<Progress>,
    throttles: ThrottleAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    cleared: Option<Cleared>,
}

impl Report for Verified {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .partitions
            .iter()
            .map(|p| {
                vec![
                    p.topic.clone(),
                    p.partition.to_string(),
                    ids(&p.target),
                    ids(&p.replicas),
                    ids(&p.isr),
                    p.status.label().to_owned(),
                ]
            })
            .collect();
        let mut out = table::render(
            &["TOPIC", "PARTITION", "TARGET", "REPLICAS", "ISR", "STATUS"],
            &rows,
        );
        match (self.throttles, &self.cleared) {
            (ThrottleAction::Cleared, Some(c)) => out.push_str(&cleared_line(c)),
            (ThrottleAction::Kept, _) => out.push_str(
                "\nReplication throttles kept until every partition is complete: run verify again.\n",
            ),
            _ => out.push_str("\nReplication throttles kept (--preserve-throttles).\n"),
        }
        out
    }
}

/// Each partition of `plan` against its target.
async fn progress(admin: &AdminClient, plan: &Plan) -> anyhow::Result<Vec<Progress>> {
    let ongoing = admin.list_partition_reassignments(&named(plan)).await?;
    let mut partitions = Vec::new();
    for p in &plan.partitions {
        let info = admin.describe_topic(&p.topic).await?;
        let state = info
            .as_ref()
            .and_then(|t| t.partitions.iter().find(|x| x.partition == p.partition));
        let (replicas, isr) = state
            .map(|s| (s.replicas.clone(), s.isr.clone()))
            .unwrap_or_default();
        let moving = ongoing
            .iter()
            .any(|o| o.topic == p.topic && o.partition == p.partition);
        let status = if moving {
            Status::InProgress
        } else if replicas == p.replicas {
            Status::Complete
        } else {
            Status::Failed
        };
        partitions.push(Progress {
            topic: p.topic.clone(),
            partition: p.partition,
            target: p.replicas.clone(),
            replicas,
            isr,
            status,
        });
    }
    Ok(partitions)
}

/// How often `verify --wait` polls.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// `verify --wait`: polls until no partition of `plan` is in progress, drawing on stderr
/// a bar of the partitions done (redrawn in place on a terminal, a line per change
/// otherwise). Fails after `timeout`.
async fn wait(
    admin: &AdminClient,
    plan: &Plan,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    let deadline = std::time::Instant::now() + timeout;
    let terminal = std::io::stderr().is_terminal();
    let mut shown = None;
    loop {
        let partitions = progress(admin, plan).await?;
        let done = partitions
            .iter()
            .filter(|p| p.status != Status::InProgress)
            .count();
        let line = progress_bar(done, partitions.len());
        if shown.as_ref() != Some(&line) {
            let mut err = std::io::stderr().lock();
            let _ = match terminal {
                true => write!(err, "\r{line}"),
                false => writeln!(err, "{line}"),
            };
            let _ = err.flush();
            shown = Some(line);
        }
        if done == partitions.len() {
            if terminal {
                eprintln!();
            }
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            if terminal {
                eprintln!();
            }
            anyhow::bail!(
                "{} of {} partitions still moving after {}s",
                partitions.len() - done,
                partitions.len(),
                timeout.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `[########------------]  2/5 partitions done`.
fn progress_bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 20;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    format!(
        "[{}{}] {done:>width$}/{total} partitions done",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        width = total.to_string().len()
    )
}

/// Kafka's `--verify`: each partition's state, then the throttles removed once all are
/// complete (a failed partition keeps them, as in Kafka: its move is not done).
async fn verify(
    admin: &AdminClient,
    plan: &Plan,
    preserve_throttles: bool,
    format: Format,
) -> anyhow::Result<()> {
    let partitions = progress(admin, plan).await?;
    let complete = partitions.iter().all(|p| p.status == Status::Complete);
    let (throttles, cleared) = if preserve_throttles {
        (ThrottleAction::Preserved, None)
    } else if !complete {
        (ThrottleAction::Kept, None)
    } else {
        let cleared = throttle::clear(admin, topics(plan)).await?;
        (ThrottleAction::Cleared, Some(cleared))
    };
    output::print(
        &Verified {
            partitions,
            throttles,
            cleared,
        },
        format,
    )
}

#[derive(Debug, Serialize)]
struct Ongoing {
    reassignments: Vec<OngoingRow>,
}

#[derive(Debug, Serialize)]
struct OngoingRow {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
    adding: Vec<i32>,
    removing: Vec<i32>,
}

impl Report for Ongoing {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .reassignments
            .iter()
            .map(|r| {
                vec![
                    r.topic.clone(),
                    r.partition.to_string(),
                    ids(&r.replicas),
                    table::or_dash(Some(ids(&r.adding)).filter(|s| !s.is_empty())),
                    table::or_dash(Some(ids(&r.removing)).filter(|s| !s.is_empty())),
                ]
            })
            .collect();
        table::render(
            &["TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"],
            &rows,
        )
    }
}

async fn list(admin: &AdminClient, format: Format) -> anyhow::Result<()> {
    let reassignments = admin
        .list_partition_reassignments(&[])
        .await?
        .into_iter()
        .map(|o| OngoingRow {
            topic: o.topic,
            partition: o.partition,
            replicas: o.replicas,
            adding: o.adding,
            removing: o.removing,
        })
        .collect();
    output::print(&Ongoing { reassignments }, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn part(topic: &str, partition: i32, replicas: &[i32]) -> PlannedPartition {
        PlannedPartition {
            topic: topic.into(),
            partition,
            replicas: replicas.to_vec(),
        }
    }

    #[test]
    fn the_progress_bar_fills_with_the_partitions_done() {
        assert_eq!(
            progress_bar(0, 4),
            "[--------------------] 0/4 partitions done"
        );
        assert_eq!(
            progress_bar(1, 4),
            "[#####---------------] 1/4 partitions done"
        );
        assert_eq!(
            progress_bar(3, 12),
            "[#####---------------]  3/12 partitions done"
        );
        assert_eq!(
            progress_bar(0, 0),
            "[####################] 0/0 partitions done"
        );
    }

    #[test]
    fn a_generated_plan_spreads_leaders_and_replicas_evenly() {
        let current: Vec<_> = (0..6).map(|p| part("t", p, &[0, 1])).collect();
        let plan = balanced(&current, &[1, 2, 3], None).unwrap();
        let mut leaders = [0; 4];
        let mut replicas = [0; 4];
        for p in &plan {
            assert_eq!(p.replicas.len(), 2);
            assert_ne!(p.replicas[0], p.replicas[1]);
            leaders[p.replicas[0] as usize] += 1;
            for r in &p.replicas {
                replicas[*r as usize] += 1;
            }
        }
        assert_eq!(&leaders[1..], &[2, 2, 2]);
        assert_eq!(&replicas[1..], &[4, 4, 4]);
    }

    #[test]
    fn a_plan_cannot_ask_for_more_replicas_than_brokers() {
        assert!(balanced(&[part("t", 0, &[0])], &[1, 2], Some(3)).is_err());
    }

    #[test]
    fn plans_read_kafkas_json() {
        let json = r#"{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[2,1],"log_dirs":["any","any"]}]}"#;
        let plan: Plan = serde_json::from_str(json).unwrap();
        assert_eq!(plan.partitions, vec![part("a", 0, &[2, 1])]);
    }
}
