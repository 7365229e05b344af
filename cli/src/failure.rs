//! Exit codes scripts can rely on (documented in docs/cli.md).

use fjord_client::codes::code;
use fjord_client::ClientError;

/// A Kafka or request error (the broker said no, or could not be reached).
pub const EXIT_ERROR: u8 = 1;
/// A usage error: bad flags or arguments, a bad `--command-config` file. clap uses 2 as well.
pub const EXIT_USAGE: u8 = 2;
/// What the command names does not exist (topic, partition, group, a user's credential).
pub const EXIT_NOT_FOUND: u8 = 3;

/// The command line or a settings file is wrong; nothing was sent.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The topic, partition or group named does not exist.
#[derive(Debug)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// The exit code for an error: not-found Kafka codes map to 3 wherever they surface.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<Usage>() {
            return EXIT_USAGE;
        }
        if cause.is::<NotFound>() {
            return EXIT_NOT_FOUND;
        }
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return match e.kafka_code() {
                Some(
                    code::UNKNOWN_TOPIC_OR_PARTITION
                    | code::GROUP_ID_NOT_FOUND
                    | code::RESOURCE_NOT_FOUND,
                ) => EXIT_NOT_FOUND,
                _ => EXIT_ERROR,
            };
        }
    }
    EXIT_ERROR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_topics_and_groups_exit_3_other_kafka_errors_1() {
        let missing = ClientError::check("Metadata", code::UNKNOWN_TOPIC_OR_PARTITION, None);
        let missing = anyhow::Error::from(missing.unwrap_err()).context("describing");
        assert_eq!(exit_code(&missing), EXIT_NOT_FOUND);
        let exists = ClientError::check("CreateTopics", code::TOPIC_ALREADY_EXISTS, None);
        assert_eq!(exit_code(&exists.unwrap_err().into()), EXIT_ERROR);
        assert_eq!(exit_code(&Usage("bad".into()).into()), EXIT_USAGE);
        assert_eq!(exit_code(&NotFound("x".into()).into()), EXIT_NOT_FOUND);
    }
}
