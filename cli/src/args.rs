//! The command line (clap derive). Help texts are the user documentation; docs/cli.md adds
//! the JSON shapes and exit codes.

use std::path::PathBuf;

mod security;

use clap::{Args as ClapArgs, Parser, Subcommand};

use crate::output::Format;
pub use security::*;

/// Operate Fjord (or any Kafka-compatible) clusters: cluster health, topics, consumer groups,
/// ACLs and SCRAM users.
#[derive(Debug, Parser)]
#[command(name = "fjord", version, about)]
pub struct Args {
    /// Brokers to bootstrap from, `host:port[,host:port]` [default: localhost:9092, or
    /// `bootstrap.servers` from --command-config].
    #[arg(long, env = "FJORD_BOOTSTRAP", global = true)]
    pub bootstrap: Option<String>,
    /// A Kafka client properties file: `bootstrap.servers`, `client.id`, `request.timeout.ms`,
    /// `security.protocol`, `ssl.*` (PEM), `sasl.mechanism`, `sasl.jaas.config` (docs/cli.md).
    #[arg(long, global = true, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value = "table")]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The cluster as a whole.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Topics: list, describe, create, alter, delete, and produce/consume for quick checks.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Consumer groups: list, describe with lag, reset offsets, delete.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Partition reassignment: generate a plan, execute, verify, cancel, list.
    #[command(subcommand)]
    Reassign(crate::cmd::reassign::ReassignCommand),
    /// Move partition leadership to the preferred replicas, or elect an out-of-sync replica
    /// for leaderless partitions (like kafka-leader-election.sh).
    ElectLeaders(crate::cmd::elect::ElectArgs),
    /// ACLs: list, create, delete (like kafka-acls.sh).
    #[command(subcommand)]
    Acl(AclCommand),
    /// SCRAM users: list, describe, set-password, delete.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Brokers (reachable or not), the active controller, the metadata quorum's voters and
    /// their lag, and partition health.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Topic names with their partition count and replication factor.
    List,
    /// Partitions (leader, replicas, ISR) and configs with their sources.
    Describe {
        /// Topic name.
        name: String,
    },
    /// Create a topic.
    Create(CreateArgs),
    /// Change configs and/or raise the partition count.
    Alter(AlterArgs),
    /// Delete a topic.
    Delete {
        /// Topic name.
        name: String,
    },
    /// Append records to one partition: `--value`, or one record per stdin line.
    Produce(ProduceArgs),
    /// Read records and print them.
    Consume(ConsumeArgs),
}

#[derive(Debug, ClapArgs)]
pub struct CreateArgs {
    /// Topic name.
    pub name: String,
    /// Partition count [default: the broker's num.partitions].
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Replication factor [default: the broker's default.replication.factor].
    #[arg(long)]
    pub replication_factor: Option<i16>,
    /// A topic config, `KEY=VALUE`; repeat for more.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
    /// Only ask the broker to validate the request.
    #[arg(long)]
    pub validate_only: bool,
}

#[derive(Debug, ClapArgs)]
pub struct AlterArgs {
    /// Topic name.
    pub name: String,
    /// New (higher) partition count.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Set a topic config, `KEY=VALUE`; repeat for more.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
    /// Remove a topic override (back to the broker's value); repeat for more.
    #[arg(long = "delete-config", value_name = "KEY")]
    pub delete_configs: Vec<String>,
}

#[derive(Debug, ClapArgs)]
pub struct ProduceArgs {
    /// Topic name.
    pub topic: String,
    /// Partition to append to.
    #[arg(long, default_value_t = 0)]
    pub partition: i32,
    /// The record value; without it every stdin line is one record.
    #[arg(long)]
    pub value: Option<String>,
    /// Record key (every record gets it).
    #[arg(long)]
    pub key: Option<String>,
    /// A record header, `KEY=VALUE`; repeat for more.
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// `all` (-1) waits for the in-sync replicas, `1` for the leader only.
    #[arg(long, default_value = "all", value_parser = ["all", "-1", "1"])]
    pub acks: String,
}

#[derive(Debug, ClapArgs)]
pub struct ConsumeArgs {
    /// Topic name.
    pub topic: String,
    /// Only this partition [default: all].
    #[arg(long)]
    pub partition: Option<i32>,
    /// Where to start: `beginning`, `end`, or an offset (with --partition).
    #[arg(long, default_value = "beginning", conflicts_with = "from_timestamp")]
    pub from: String,
    /// Start at the first record at or after this time: RFC 3339
    /// (`2024-05-01T12:00:00Z`) or milliseconds since the epoch.
    #[arg(long, value_name = "TIME")]
    pub from_timestamp: Option<String>,
    /// Stop after this many records [default: stop at the end of the partitions].
    #[arg(short = 'n', long)]
    pub max_messages: Option<usize>,
    /// How records are printed: `plain` (the value per line) or `json` (one object per line).
    #[arg(long, value_parser = ["plain", "json"], default_value = "plain")]
    pub format: String,
    /// Give up waiting for records after this long.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Groups with their state.
    List,
    /// Members, assignments, committed offsets, log end offsets and lag per partition.
    Describe {
        /// Group id.
        group: String,
    },
    /// Move a group's committed offsets (dry run unless --execute).
    ResetOffsets(ResetArgs),
    /// Delete a group and its committed offsets (it must have no members).
    Delete {
        /// Group id.
        group: String,
    },
}

#[derive(Debug, ClapArgs)]
#[command(group(clap::ArgGroup::new("target").required(true).args(
    ["to_earliest", "to_latest", "to_datetime", "to_offset", "shift_by"])))]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["topic", "all_topics"])))]
pub struct ResetArgs {
    /// Group id.
    pub group: String,
    /// `TOPIC` or `TOPIC:0,1,2`; repeat for more.
    #[arg(long)]
    pub topic: Vec<String>,
    /// Every topic the group has committed offsets for.
    #[arg(long)]
    pub all_topics: bool,
    /// To the log start offsets.
    #[arg(long)]
    pub to_earliest: bool,
    /// To the log end offsets.
    #[arg(long)]
    pub to_latest: bool,
    /// To the first offset at or after this time (RFC 3339 or ms since the epoch).
    #[arg(long, value_name = "TIME")]
    pub to_datetime: Option<String>,
    /// To this offset (clamped to the log's range).
    #[arg(long)]
    pub to_offset: Option<i64>,
    /// By this many from the committed offset (clamped to the log's range).
    #[arg(long, allow_negative_numbers = true)]
    pub shift_by: Option<i64>,
    /// Apply the plan; without it nothing changes.
    #[arg(long)]
    pub execute: bool,
    /// Show the plan without applying it (the default).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
}
