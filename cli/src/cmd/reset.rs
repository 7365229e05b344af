//! `fjord group reset-offsets`: plan new committed offsets, print the plan, and apply it only
//! with `--execute` — and only while the group has no active members, as Kafka's
//! `kafka-consumer-groups.sh` insists (a live consumer would overwrite the reset at its next
//! commit).

use std::collections::BTreeMap;

use fjord_client::{AdminClient, OffsetSpec};
use serde::Serialize;

use super::parse_time;
use crate::args::ResetArgs;
use crate::failure::Usage;
use crate::output::{self, Format, Report};
use crate::table;

#[derive(Debug, Serialize)]
struct Plan {
    group_id: String,
    /// Whether the offsets were committed (`--execute`) or only planned.
    executed: bool,
    offsets: Vec<Reset>,
}

#[derive(Debug, Serialize)]
struct Reset {
    topic: String,
    partition: i32,
    /// `null` when the group had not committed for this partition.
    current_offset: Option<i64>,
    new_offset: i64,
}

impl Report for Plan {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .offsets
            .iter()
            .map(|r| {
                vec![
                    r.topic.clone(),
                    r.partition.to_string(),
                    table::or_dash(r.current_offset),
                    r.new_offset.to_string(),
                ]
            })
            .collect();
        let mut out = table::render(
            &["TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"],
            &rows,
        );
        out.push_str(if self.executed {
            "\noffsets committed\n"
        } else {
            "\ndry run: nothing changed (add --execute to apply)\n"
        });
        out
    }
}

/// Where to move each partition.
#[derive(Debug, Clone, Copy)]
enum Target {
    Earliest,
    Latest,
    Datetime(i64),
    Offset(i64),
    ShiftBy(i64),
}

pub async fn run(admin: &AdminClient, args: ResetArgs, format: Format) -> anyhow::Result<()> {
    let target = target(&args)?;
    let group = match admin.describe_group(&args.group).await {
        Ok(g) => Some(g),
        // A group nobody has used yet can be given offsets, as Kafka's tool allows.
        Err(e) if e.kafka_code() == Some(fjord_client::codes::code::GROUP_ID_NOT_FOUND) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(g) = group.as_ref().filter(|g| !g.members.is_empty()) {
        anyhow::bail!(
            "assignments can only be reset if the group {:?} is inactive, but it has {} active \
             member(s) (state {}); stop its consumers first",
            g.group_id,
            g.members.len(),
            g.state
        );
    }
    let committed = admin.committed_offsets(&args.group).await?;
    let scope = scope(admin, &args, &committed).await?;
    let mut plan = Vec::new();
    for (topic, partitions) in &scope {
        let earliest = admin
            .list_offsets(topic, partitions, OffsetSpec::Earliest)
            .await?;
        let latest = admin
            .list_offsets(topic, partitions, OffsetSpec::Latest)
            .await?;
        let at_time = match target {
            Target::Datetime(ms) => {
                admin
                    .list_offsets(topic, partitions, OffsetSpec::Timestamp(ms))
                    .await?
            }
            _ => BTreeMap::new(),
        };
        for p in partitions {
            let low = earliest.get(p).copied().flatten().unwrap_or(0);
            let high = latest.get(p).copied().flatten().unwrap_or(low);
            let current = committed.get(&(topic.clone(), *p)).copied();
            let new_offset = match target {
                Target::Earliest => low,
                Target::Latest => high,
                // No record at or after the time: the end, as Kafka's tool does.
                Target::Datetime(_) => at_time.get(p).copied().flatten().unwrap_or(high),
                Target::Offset(o) => o.clamp(low, high),
                Target::ShiftBy(n) => current.unwrap_or(low).saturating_add(n).clamp(low, high),
            };
            plan.push(Reset {
                topic: topic.clone(),
                partition: *p,
                current_offset: current,
                new_offset,
            });
        }
    }
    if args.execute {
        let offsets: BTreeMap<(String, i32), i64> = plan
            .iter()
            .map(|r| ((r.topic.clone(), r.partition), r.new_offset))
            .collect();
        admin.commit_offsets(&args.group, &offsets).await?;
    }
    output::print(
        &Plan {
            group_id: args.group,
            executed: args.execute,
            offsets: plan,
        },
        format,
    )
}

fn target(args: &ResetArgs) -> anyhow::Result<Target> {
    Ok(if args.to_earliest {
        Target::Earliest
    } else if args.to_latest {
        Target::Latest
    } else if let Some(t) = &args.to_datetime {
        Target::Datetime(parse_time(t)?)
    } else if let Some(o) = args.to_offset {
        Target::Offset(o)
    } else if let Some(n) = args.shift_by {
        Target::ShiftBy(n)
    } else {
        return Err(Usage(
            "give one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by".into(),
        )
        .into());
    })
}

/// The partitions to reset, by topic: `--topic T` (all its partitions), `--topic T:0,2`, or
/// `--all-topics` (the topics the group has committed offsets for).
async fn scope(
    admin: &AdminClient,
    args: &ResetArgs,
    committed: &BTreeMap<(String, i32), i64>,
) -> anyhow::Result<BTreeMap<String, Vec<i32>>> {
    let mut scope: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    if args.all_topics {
        for (t, p) in committed.keys() {
            scope.entry(t.clone()).or_default().push(*p);
        }
        return Ok(scope);
    }
    for spec in &args.topic {
        let (topic, partitions) = match spec.split_once(':') {
            Some((t, ps)) => {
                let ps: Vec<i32> = ps
                    .split(',')
                    .map(|p| p.trim().parse::<i32>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| Usage(format!("--topic {spec:?}: partitions must be numbers")))?;
                (t.to_owned(), ps)
            }
            None => {
                let info = admin.describe_topic(spec).await?.ok_or_else(|| {
                    crate::failure::NotFound(format!("topic {spec:?} does not exist"))
                })?;
                (
                    spec.clone(),
                    info.partitions.iter().map(|p| p.partition).collect(),
                )
            }
        };
        scope.entry(topic).or_default().extend(partitions);
    }
    for ps in scope.values_mut() {
        ps.sort_unstable();
        ps.dedup();
    }
    Ok(scope)
}
