//! One module per command group; each builds a [`Report`](crate::output::Report) and prints it.

mod acl;
mod cluster;
mod consume;
pub mod elect;
mod group;
mod produce;
pub mod reassign;
mod reset;
mod topic;
mod user;

use anyhow::Context;
use fjord_client::AdminClient;

use crate::args::{Args, ClusterCommand, Command, GroupCommand, TopicCommand};
use crate::failure::Usage;
use crate::settings::{self, Settings};

/// Runs the parsed command line.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let settings = settings::load(args.bootstrap.as_deref(), args.command_config.as_deref())?;
    let admin = connect(&settings).await?;
    let format = args.output;
    match args.command {
        Command::Cluster(ClusterCommand::Status) => {
            cluster::status(&admin, &settings, format).await
        }
        Command::Topic(c) => match c {
            TopicCommand::List => topic::list(&admin, format).await,
            TopicCommand::Describe { name } => topic::describe(&admin, &name, format).await,
            TopicCommand::Create(a) => topic::create(&admin, a, format).await,
            TopicCommand::Alter(a) => topic::alter(&admin, a, format).await,
            TopicCommand::Delete { name } => topic::delete(&admin, &name, format).await,
            TopicCommand::Produce(a) => produce::run(&admin, a, format).await,
            TopicCommand::Consume(a) => consume::run(&admin, a).await,
        },
        Command::ElectLeaders(a) => elect::run(&admin, a, format).await,
        Command::Group(c) => match c {
            GroupCommand::List => group::list(&admin, format).await,
            GroupCommand::Describe { group } => group::describe(&admin, &group, format).await,
            GroupCommand::ResetOffsets(a) => reset::run(&admin, a, format).await,
            GroupCommand::Delete { group } => group::delete(&admin, &group, format).await,
        },
        Command::Reassign(c) => reassign::run(&admin, c, format).await,
        Command::Acl(c) => acl::run(&admin, c, format).await,
        Command::User(c) => user::run(&admin, c, format).await,
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<AdminClient> {
    AdminClient::connect_with(&settings.bootstrap, settings.client.clone())
        .await
        .map_err(|e| match e {
            // A malformed bootstrap list is the user's to fix, not the cluster's.
            fjord_client::ClientError::Protocol(m) if m.contains("bootstrap") => Usage(m).into(),
            e => anyhow::Error::from(e),
        })
        .with_context(|| format!("connecting to {}", settings.bootstrap))
}

/// Splits `KEY=VALUE`.
fn key_value(s: &str) -> anyhow::Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| Usage(format!("{s:?} is not KEY=VALUE")))?;
    Ok((k.to_owned(), v.to_owned()))
}

/// A time as ms since the epoch: RFC 3339 (`2024-05-01T12:00:00Z`, offsets allowed) or an
/// integer number of milliseconds.
fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let ts: jiff::Timestamp = s.parse().map_err(|e| {
        Usage(format!(
            "{s:?} is neither RFC 3339 (2024-05-01T12:00:00Z) nor ms since the epoch: {e}"
        ))
    })?;
    Ok(ts.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_epoch_millis() {
        assert_eq!(parse_time("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert_eq!(parse_time("1970-01-01T01:00:01+01:00").unwrap(), 1000);
        assert!(parse_time("yesterday").unwrap_err().is::<Usage>());
    }

    #[test]
    fn key_values_need_a_key() {
        assert_eq!(key_value("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(key_value("=x").is_err());
        assert!(key_value("novalue").is_err());
    }
}
