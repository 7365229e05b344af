//! `fjord elect-leaders`: preferred or unclean leader elections, as `kafka-leader-election.sh`.

use clap::Args as ClapArgs;
use fjord_client::codes::code;
use fjord_client::{AdminClient, ElectionOutcome, ElectionType};
use serde::Serialize;

use crate::failure::{NotFound, Usage};
use crate::output::{self, Format, Report};
use crate::table;

/// Kafka's ELECTION_NOT_NEEDED: the wanted leader already leads.
const ELECTION_NOT_NEEDED: i16 = 84;

#[derive(Debug, ClapArgs)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["topic", "all_topic_partitions"])))]
pub struct ElectArgs {
    /// `preferred`: move leadership to each partition's preferred replica when it is live and in
    /// sync. `unclean`: give a leaderless partition a live replica even if it is out of sync
    /// (records acknowledged only by the lost replicas are gone).
    #[arg(long, value_enum, ignore_case = true)]
    pub election_type: Kind,
    /// The topic whose partitions to elect (all of them unless --partition is given).
    #[arg(long, conflicts_with = "all_topic_partitions")]
    pub topic: Option<String>,
    /// A partition of --topic; repeat for more.
    #[arg(long, requires = "topic")]
    pub partition: Vec<i32>,
    /// Every partition of every topic (the broker answers only those that needed an election).
    #[arg(long)]
    pub all_topic_partitions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Preferred,
    Unclean,
}

#[derive(Debug, Serialize)]
struct Elections {
    election_type: Kind,
    partitions: Vec<Outcome>,
}

#[derive(Debug, Serialize)]
struct Outcome {
    topic: String,
    partition: i32,
    /// `elected`, `not_needed` or `failed`.
    result: &'static str,
    /// Kafka's error name when it failed.
    error: Option<&'static str>,
    message: Option<String>,
    #[serde(skip)]
    code: i16,
}

impl From<ElectionOutcome> for Outcome {
    fn from(o: ElectionOutcome) -> Outcome {
        let result = match o.error_code {
            0 => "elected",
            ELECTION_NOT_NEEDED => "not_needed",
            _ => "failed",
        };
        Outcome {
            topic: o.topic,
            partition: o.partition,
            result,
            error: (result == "failed").then_some(o.error_name),
            message: o.message,
            code: o.error_code,
        }
    }
}

impl Report for Elections {
    fn human(&self) -> String {
        if self.partitions.is_empty() {
            return "no partition needed an election\n".to_owned();
        }
        let rows: Vec<Vec<String>> = self
            .partitions
            .iter()
            .map(|o| {
                vec![
                    o.topic.clone(),
                    o.partition.to_string(),
                    o.result.to_owned(),
                    table::or_dash(o.error),
                    table::or_dash(o.message.as_deref()),
                ]
            })
            .collect();
        table::render(&["TOPIC", "PARTITION", "RESULT", "ERROR", "MESSAGE"], &rows)
    }
}

pub async fn run(admin: &AdminClient, a: ElectArgs, format: Format) -> anyhow::Result<()> {
    let election_type = match a.election_type {
        Kind::Preferred => ElectionType::Preferred,
        Kind::Unclean => ElectionType::Unclean,
    };
    let partitions = match &a.topic {
        None => None,
        Some(topic) if a.partition.is_empty() => {
            let info = admin
                .describe_topic(topic)
                .await?
                .ok_or_else(|| NotFound(format!("topic {topic:?} does not exist")))?;
            Some(
                info.partitions
                    .iter()
                    .map(|p| (topic.clone(), p.partition))
                    .collect::<Vec<_>>(),
            )
        }
        Some(topic) => Some(a.partition.iter().map(|&p| (topic.clone(), p)).collect()),
    };
    if partitions.as_ref().is_some_and(Vec::is_empty) {
        return Err(Usage("no partitions to elect".into()).into());
    }
    let outcomes = admin
        .elect_leaders(election_type, partitions.as_deref())
        .await?;
    let report = Elections {
        election_type: a.election_type,
        partitions: outcomes.into_iter().map(Outcome::from).collect(),
    };
    output::print(&report, format)?;
    check(&report.partitions)
}

/// Exit 0 when every partition was elected or needed no election; 3 when every failure is a
/// partition that does not exist; else 1.
fn check(outcomes: &[Outcome]) -> anyhow::Result<()> {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result == "failed").collect();
    if failed.is_empty() {
        return Ok(());
    }
    let message = format!("leader election failed for {} partition(s)", failed.len());
    if failed
        .iter()
        .all(|o| o.code == code::UNKNOWN_TOPIC_OR_PARTITION)
    {
        Err(NotFound(message).into())
    } else {
        Err(anyhow::anyhow!(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::{exit_code, EXIT_ERROR, EXIT_NOT_FOUND};

    fn outcome(code: i16) -> Outcome {
        Outcome::from(ElectionOutcome {
            topic: "t".into(),
            partition: 0,
            error_code: code,
            error_name: fjord_client::codes::error_name(code),
            message: None,
        })
    }

    #[test]
    fn not_needed_is_success_missing_partitions_exit_3_other_failures_1() {
        assert!(check(&[outcome(0), outcome(ELECTION_NOT_NEEDED)]).is_ok());
        let missing = check(&[outcome(0), outcome(code::UNKNOWN_TOPIC_OR_PARTITION)]);
        assert_eq!(exit_code(&missing.unwrap_err()), EXIT_NOT_FOUND);
        let unavailable = check(&[outcome(80), outcome(code::UNKNOWN_TOPIC_OR_PARTITION)]);
        assert_eq!(exit_code(&unavailable.unwrap_err()), EXIT_ERROR);
        assert_eq!(outcome(80).error, Some("PREFERRED_LEADER_NOT_AVAILABLE"));
    }
}
