//! `fjord reassign`: move partitions between brokers and change replication factors, with the
//! JSON plan format of Kafka's `kafka-reassign-partitions.sh`
//! (`{"version":1,"partitions":[{"topic":..,"partition":..,"replicas":[..]}]}`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use fjord_client::{AdminClient, Reassignment};
use serde::{Deserialize, Serialize};

use crate::failure::Usage;
use crate::output::{self, Format, Report};
use crate::table;

#[derive(Debug, Subcommand)]
pub enum ReassignCommand {
    /// Print a balanced plan placing the partitions of `--topics` on `--brokers` (and the
    /// current assignment, to roll back with).
    Generate(GenerateArgs),
    /// Start the reassignments of a plan.
    Execute(PlanFile),
    /// Whether each partition of a plan has reached its replicas, is moving, or differs.
    Verify(PlanFile),
    /// Cancel the ongoing reassignments of a plan's partitions (they keep their old replicas).
    Cancel(PlanFile),
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
        ReassignCommand::Execute(f) => {
            change(admin, &read_plan(&f.reassignment_json_file)?, false, format).await
        }
        ReassignCommand::Cancel(f) => {
            change(admin, &read_plan(&f.reassignment_json_file)?, true, format).await
        }
        ReassignCommand::Verify(f) => {
            verify(admin, &read_plan(&f.reassignment_json_file)?, format).await
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
        table::render(&["TOPIC", "PARTITION", "RESULT"], &rows)
    }
}

async fn change(
    admin: &AdminClient,
    plan: &Plan,
    cancel: bool,
    format: Format,
) -> anyhow::Result<()> {
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
    let failed = results.iter().filter(|r| r.is_err()).count();
    let partitions = moves
        .iter()
        .zip(results)
        .map(|(m, r)| Outcome {
            topic: m.topic.clone(),
            partition: m.partition,
            error: r.err().map(|e| e.to_string()),
        })
        .collect();
    let action = if cancel { "cancelled" } else { "started" };
    output::print(&Outcomes { action, partitions }, format)?;
    if failed > 0 {
        anyhow::bail!("{failed} of {} partition(s) were refused", moves.len());
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct Progress {
    topic: String,
    partition: i32,
    target: Vec<i32>,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    /// `complete`, `in progress` or `differs` (no reassignment moving it to the target).
    status: &'static str,
}

#[derive(Debug, Serialize)]
struct Verified {
    partitions: Vec<Progress>,
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
                    p.status.to_owned(),
                ]
            })
            .collect();
        table::render(
            &["TOPIC", "PARTITION", "TARGET", "REPLICAS", "ISR", "STATUS"],
            &rows,
        )
    }
}

async fn verify(admin: &AdminClient, plan: &Plan, format: Format) -> anyhow::Result<()> {
    let named: Vec<(String, i32)> = plan
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    let ongoing = admin.list_partition_reassignments(&named).await?;
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
            "in progress"
        } else if replicas == p.replicas {
            "complete"
        } else {
            "differs"
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
    output::print(&Verified { partitions }, format)
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

/// Broker ids as `1,2,3`.
fn ids(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(topic: &str, partition: i32, replicas: &[i32]) -> PlannedPartition {
        PlannedPartition {
            topic: topic.into(),
            partition,
            replicas: replicas.to_vec(),
        }
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
