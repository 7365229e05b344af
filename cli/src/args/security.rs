//! `fjord acl` and `fjord user`: the flags of kafka-acls.sh, and SCRAM credentials.

use clap::{Args as ClapArgs, Subcommand};

#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// ACLs matching the filters (all of them without filters).
    List(AclListArgs),
    /// Add ACLs: every principal x operation x resource given.
    Create(AclCreateArgs),
    /// Remove the ACLs matching the filters (a resource is required).
    Delete(AclDeleteArgs),
}

/// Which resources: `--topic`, `--group`, `--transactional-id` (repeatable) and `--cluster`.
#[derive(Debug, Clone, Default, ClapArgs)]
pub struct Resources {
    /// A topic name (a prefix with `--resource-pattern-type prefixed`, `*` for all topics).
    #[arg(long, value_name = "TOPIC")]
    pub topic: Vec<String>,
    /// A consumer group id (or prefix, or `*`).
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
    /// A transactional id (or prefix, or `*`).
    #[arg(long, value_name = "ID")]
    pub transactional_id: Vec<String>,
    /// The cluster itself.
    #[arg(long)]
    pub cluster: bool,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.topic.is_empty()
            && self.group.is_empty()
            && self.transactional_id.is_empty()
            && !self.cluster
    }
}

#[derive(Debug, ClapArgs)]
pub struct AclListArgs {
    #[command(flatten)]
    pub resources: Resources,
    /// `literal`, `prefixed`, `match` (every ACL that applies to the name) or `any`
    /// [default: literal with a resource, any without].
    #[arg(long, value_name = "TYPE")]
    pub resource_pattern_type: Option<String>,
    /// Only ACLs of this principal (`User:alice`).
    #[arg(long)]
    pub principal: Option<String>,
    /// Only ACLs for this host.
    #[arg(long)]
    pub host: Option<String>,
    /// Only ACLs for this operation (Read, Write, Describe, ...).
    #[arg(long)]
    pub operation: Option<String>,
    /// Only `allow` or `deny` ACLs.
    #[arg(long)]
    pub permission: Option<String>,
}

#[derive(Debug, ClapArgs)]
#[command(group(clap::ArgGroup::new("principals").required(true).multiple(true)
    .args(["allow_principal", "deny_principal"])))]
pub struct AclCreateArgs {
    #[command(flatten)]
    pub resources: Resources,
    /// Principal allowed (`User:alice`, `User:*`); repeat for more.
    #[arg(long, value_name = "PRINCIPAL")]
    pub allow_principal: Vec<String>,
    /// Principal denied; repeat for more.
    #[arg(long, value_name = "PRINCIPAL")]
    pub deny_principal: Vec<String>,
    /// Host the ACLs apply to.
    #[arg(long, default_value = "*")]
    pub host: String,
    /// Operation (Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// DescribeConfigs, AlterConfigs, IdempotentWrite, All); repeat for more.
    #[arg(long, default_values = ["All"])]
    pub operation: Vec<String>,
    /// `literal` or `prefixed`.
    #[arg(long, value_name = "TYPE", default_value = "literal")]
    pub resource_pattern_type: String,
}

#[derive(Debug, ClapArgs)]
pub struct AclDeleteArgs {
    #[command(flatten)]
    pub resources: Resources,
    /// Only ACLs allowing this principal; repeat for more.
    #[arg(long, value_name = "PRINCIPAL")]
    pub allow_principal: Vec<String>,
    /// Only ACLs denying this principal; repeat for more.
    #[arg(long, value_name = "PRINCIPAL")]
    pub deny_principal: Vec<String>,
    /// Only ACLs for this host.
    #[arg(long)]
    pub host: Option<String>,
    /// Only ACLs for this operation; repeat for more [default: any].
    #[arg(long)]
    pub operation: Vec<String>,
    /// `literal`, `prefixed`, `match` or `any`.
    #[arg(long, value_name = "TYPE", default_value = "literal")]
    pub resource_pattern_type: String,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Users with SCRAM credentials.
    List,
    /// One user's SCRAM credentials (mechanisms and iteration counts).
    Describe {
        /// User name.
        user: String,
    },
    /// Create or replace a SCRAM credential: `--password`, or the first line of stdin.
    SetPassword(SetPasswordArgs),
    /// Remove a user's SCRAM credentials.
    Delete {
        /// User name.
        user: String,
        /// Only this mechanism's credential; repeat for more [default: all the user has].
        #[arg(long)]
        mechanism: Vec<String>,
    },
}

#[derive(Debug, ClapArgs)]
pub struct SetPasswordArgs {
    /// User name.
    pub user: String,
    /// SCRAM-SHA-256 or SCRAM-SHA-512; repeat to set both.
    #[arg(long, default_values = ["SCRAM-SHA-256"])]
    pub mechanism: Vec<String>,
    /// PBKDF2 iterations (4096 to 16384).
    #[arg(long, default_value_t = 4096)]
    pub iterations: i32,
    /// The password [default: the first line of stdin].
    #[arg(long)]
    pub password: Option<String>,
}
