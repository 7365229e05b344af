//! `fjord group list|describe|delete`.

use std::collections::{BTreeMap, BTreeSet};

use fjord_client::{AdminClient, GroupDescription, OffsetSpec};
use serde::Serialize;

use crate::output::{self, Format, Report};
use crate::table;

#[derive(Debug, Serialize)]
struct GroupList {
    groups: Vec<GroupSummary>,
}

#[derive(Debug, Serialize)]
struct GroupSummary {
    group_id: String,
    state: String,
    protocol_type: String,
}

impl Report for GroupList {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|g| vec![g.group_id.clone(), g.state.clone(), g.protocol_type.clone()])
            .collect();
        table::render(&["GROUP", "STATE", "PROTOCOL TYPE"], &rows)
    }
}

pub async fn list(admin: &AdminClient, format: Format) -> anyhow::Result<()> {
    let groups = admin.list_groups().await?;
    let report = GroupList {
        groups: groups
            .into_iter()
            .map(|g| GroupSummary {
                group_id: g.group_id,
                state: g.state,
                protocol_type: g.protocol_type,
            })
            .collect(),
    };
    output::print(&report, format)
}

#[derive(Debug, Serialize)]
struct Described {
    group_id: String,
    state: String,
    protocol_type: String,
    protocol: String,
    coordinator: i32,
    members: Vec<Member>,
    offsets: Vec<PartitionLag>,
    /// Sum of `lag` over the partitions that have a committed offset.
    total_lag: i64,
}

#[derive(Debug, Serialize)]
struct Member {
    member_id: String,
    group_instance_id: Option<String>,
    client_id: String,
    client_host: String,
    assignments: Vec<Assigned>,
}

#[derive(Debug, Serialize)]
struct Assigned {
    topic: String,
    partition: i32,
}

#[derive(Debug, Serialize)]
struct PartitionLag {
    topic: String,
    partition: i32,
    /// `null` when the group has not committed for this partition.
    committed_offset: Option<i64>,
    log_end_offset: i64,
    /// `log_end_offset - committed_offset`; `null` without a committed offset.
    lag: Option<i64>,
    /// The member the partition is assigned to, if any.
    member_id: Option<String>,
}

impl Report for Described {
    fn human(&self) -> String {
        let mut out = format!(
            "group: {}\nstate: {}\nprotocol: {} ({})\ncoordinator: {}\nmembers: {}\ntotal lag: {}\n\n",
            self.group_id,
            self.state,
            self.protocol,
            self.protocol_type,
            self.coordinator,
            self.members.len(),
            self.total_lag
        );
        let hosts: BTreeMap<&str, &Member> = self
            .members
            .iter()
            .map(|m| (m.member_id.as_str(), m))
            .collect();
        let rows: Vec<Vec<String>> = self
            .offsets
            .iter()
            .map(|o| {
                let member = o.member_id.as_deref().and_then(|m| hosts.get(m));
                vec![
                    o.topic.clone(),
                    o.partition.to_string(),
                    table::or_dash(o.committed_offset),
                    o.log_end_offset.to_string(),
                    table::or_dash(o.lag),
                    table::or_dash(o.member_id.as_deref()),
                    table::or_dash(member.map(|m| format!("{}/{}", m.client_id, m.client_host))),
                ]
            })
            .collect();
        out.push_str(&table::render(
            &[
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "MEMBER",
                "CLIENT",
            ],
            &rows,
        ));
        out
    }
}

pub async fn describe(admin: &AdminClient, group: &str, format: Format) -> anyhow::Result<()> {
    let description = admin.describe_group(group).await?;
    let committed = admin.committed_offsets(group).await?;
    let report = lag_report(admin, description, committed).await?;
    output::print(&report, format)
}

async fn lag_report(
    admin: &AdminClient,
    g: GroupDescription,
    committed: BTreeMap<(String, i32), i64>,
) -> anyhow::Result<Described> {
    let mut owner: BTreeMap<(String, i32), String> = BTreeMap::new();
    for m in &g.members {
        for (topic, partitions) in &m.assignment {
            for p in partitions {
                owner.insert((topic.clone(), *p), m.member_id.clone());
            }
        }
    }
    let partitions: BTreeSet<(String, i32)> =
        committed.keys().chain(owner.keys()).cloned().collect();
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in &partitions {
        by_topic.entry(t).or_default().push(*p);
    }
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for (topic, ps) in by_topic {
        for (p, end) in admin.list_offsets(topic, &ps, OffsetSpec::Latest).await? {
            ends.insert((topic.to_owned(), p), end.unwrap_or(0));
        }
    }
    let offsets: Vec<PartitionLag> = partitions
        .into_iter()
        .map(|key| {
            let committed_offset = committed.get(&key).copied();
            let log_end_offset = ends.get(&key).copied().unwrap_or(0);
            PartitionLag {
                lag: committed_offset.map(|c| (log_end_offset - c).max(0)),
                committed_offset,
                log_end_offset,
                member_id: owner.get(&key).cloned(),
                partition: key.1,
                topic: key.0,
            }
        })
        .collect();
    Ok(Described {
        total_lag: offsets.iter().filter_map(|o| o.lag).sum(),
        group_id: g.group_id,
        state: g.state,
        protocol_type: g.protocol_type,
        protocol: g.protocol,
        coordinator: g.coordinator,
        members: g
            .members
            .into_iter()
            .map(|m| Member {
                assignments: m
                    .assignment
                    .iter()
                    .flat_map(|(t, ps)| {
                        ps.iter().map(|p| Assigned {
                            topic: t.clone(),
                            partition: *p,
                        })
                    })
                    .collect(),
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
            })
            .collect(),
        offsets,
    })
}

#[derive(Debug, Serialize)]
struct Deleted {
    group_id: String,
    action: &'static str,
}

impl Report for Deleted {
    fn human(&self) -> String {
        format!("deleted group {}\n", self.group_id)
    }
}

pub async fn delete(admin: &AdminClient, group: &str, format: Format) -> anyhow::Result<()> {
    admin.delete_group(group).await?;
    output::print(
        &Deleted {
            group_id: group.to_owned(),
            action: "deleted",
        },
        format,
    )
}
