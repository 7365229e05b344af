//! `fjord topic list|describe|create|alter|delete`.

use std::collections::BTreeMap;

use fjord_client::{AdminClient, ConfigSource, NewTopic};
use serde::Serialize;

use super::key_value;
use crate::args::{AlterArgs, CreateArgs};
use crate::failure::{NotFound, Usage};
use crate::output::{self, Format, Report};
use crate::table;

#[derive(Debug, Serialize)]
struct TopicList {
    topics: Vec<TopicSummary>,
}

#[derive(Debug, Serialize)]
struct TopicSummary {
    name: String,
    partitions: usize,
    replication_factor: usize,
}

impl Report for TopicList {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .topics
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.partitions.to_string(),
                    t.replication_factor.to_string(),
                ]
            })
            .collect();
        table::render(&["TOPIC", "PARTITIONS", "REPLICATION"], &rows)
    }
}

pub async fn list(admin: &AdminClient, format: Format) -> anyhow::Result<()> {
    let topics = admin.list_topics().await?;
    let report = TopicList {
        topics: topics
            .iter()
            .map(|t| TopicSummary {
                name: t.name.clone(),
                partitions: t.partitions.len(),
                replication_factor: t.partitions.first().map_or(0, |p| p.replicas.len()),
            })
            .collect(),
    };
    output::print(&report, format)
}

#[derive(Debug, Serialize)]
struct TopicDescription {
    name: String,
    topic_id: String,
    partitions: Vec<Partition>,
    configs: Vec<Config>,
}

#[derive(Debug, Serialize)]
struct Partition {
    partition: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

#[derive(Debug, Serialize)]
struct Config {
    name: String,
    value: Option<String>,
    source: &'static str,
    read_only: bool,
    sensitive: bool,
}

/// snake_case names of [`ConfigSource`] for the JSON shape.
fn source_name(source: ConfigSource) -> &'static str {
    match source {
        ConfigSource::DynamicTopic => "dynamic_topic",
        ConfigSource::DynamicBroker => "dynamic_broker",
        ConfigSource::StaticBroker => "static_broker",
        ConfigSource::Default => "default",
        ConfigSource::Unknown => "unknown",
    }
}

impl Report for TopicDescription {
    fn human(&self) -> String {
        let mut out = format!("topic: {}\ntopic id: {}\n\n", self.name, self.topic_id);
        let rows: Vec<Vec<String>> = self
            .partitions
            .iter()
            .map(|p| {
                vec![
                    p.partition.to_string(),
                    p.leader.to_string(),
                    table::ids(&p.replicas),
                    table::ids(&p.isr),
                ]
            })
            .collect();
        out.push_str(&table::render(
            &["PARTITION", "LEADER", "REPLICAS", "ISR"],
            &rows,
        ));
        out.push('\n');
        let rows: Vec<Vec<String>> = self
            .configs
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    table::or_dash(c.value.as_deref()),
                    c.source.to_owned(),
                ]
            })
            .collect();
        out.push_str(&table::render(&["CONFIG", "VALUE", "SOURCE"], &rows));
        out
    }
}

pub async fn describe(admin: &AdminClient, name: &str, format: Format) -> anyhow::Result<()> {
    let topic = admin
        .describe_topic(name)
        .await?
        .ok_or_else(|| NotFound(format!("topic {name:?} does not exist")))?;
    let mut configs = admin.describe_topic_configs(name).await?;
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    let report = TopicDescription {
        name: topic.name,
        topic_id: topic.topic_id.to_string(),
        partitions: topic
            .partitions
            .into_iter()
            .map(|p| Partition {
                partition: p.partition,
                leader: p.leader,
                replicas: p.replicas,
                isr: p.isr,
            })
            .collect(),
        configs: configs
            .into_iter()
            .map(|c| Config {
                name: c.name,
                value: c.value,
                source: source_name(c.source),
                read_only: c.read_only,
                sensitive: c.sensitive,
            })
            .collect(),
    };
    output::print(&report, format)
}

/// What create, alter and delete print.
#[derive(Debug, Serialize)]
struct Changed {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic_id: Option<String>,
    action: &'static str,
}

impl Report for Changed {
    fn human(&self) -> String {
        match &self.topic_id {
            Some(id) => format!("{} topic {} ({id})\n", self.action, self.name),
            None => format!("{} topic {}\n", self.action, self.name),
        }
    }
}

fn configs(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs.iter().map(|s| key_value(s)).collect()
}

pub async fn create(admin: &AdminClient, args: CreateArgs, format: Format) -> anyhow::Result<()> {
    let topic = NewTopic {
        name: args.name.clone(),
        // -1 asks the broker for its defaults (KIP-464).
        partitions: args.partitions.unwrap_or(-1),
        replication_factor: args.replication_factor.unwrap_or(-1),
        assignment: None,
        configs: configs(&args.configs)?,
    };
    let id = admin.create_topic(&topic, args.validate_only).await?;
    let report = Changed {
        name: args.name,
        topic_id: (!args.validate_only).then(|| id.to_string()),
        action: if args.validate_only {
            "validated"
        } else {
            "created"
        },
    };
    output::print(&report, format)
}

pub async fn alter(admin: &AdminClient, args: AlterArgs, format: Format) -> anyhow::Result<()> {
    if args.partitions.is_none() && args.configs.is_empty() && args.delete_configs.is_empty() {
        return Err(Usage(
            "nothing to alter: give --partitions, --config or --delete-config".into(),
        )
        .into());
    }
    let set = configs(&args.configs)?;
    if admin.describe_topic(&args.name).await?.is_none() {
        return Err(NotFound(format!("topic {:?} does not exist", args.name)).into());
    }
    admin
        .alter_topic_configs(&args.name, &set, &args.delete_configs)
        .await?;
    if let Some(total) = args.partitions {
        admin.create_partitions(&args.name, total, None).await?;
    }
    output::print(
        &Changed {
            name: args.name,
            topic_id: None,
            action: "altered",
        },
        format,
    )
}

pub async fn delete(admin: &AdminClient, name: &str, format: Format) -> anyhow::Result<()> {
    admin.delete_topic(name).await?;
    output::print(
        &Changed {
            name: name.to_owned(),
            topic_id: None,
            action: "deleted",
        },
        format,
    )
}
