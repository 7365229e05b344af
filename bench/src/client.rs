//! What every scenario shares: librdkafka configuration, and the topic it runs on.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// A `KEY=VALUE` librdkafka property given with `-X`; applied after the scenario's own
/// settings, so it can override any of them.
#[derive(Debug, Clone)]
pub struct Property(pub String, pub String);

impl std::str::FromStr for Property {
    type Err = String;
    fn from_str(s: &str) -> Result<Property, String> {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(Property(k.to_string(), v.to_string())),
            _ => Err(format!("`{s}` is not KEY=VALUE")),
        }
    }
}

/// A librdkafka configuration for `bootstrap` with the scenario's `settings`, then `-X`.
pub fn config(bootstrap: &str, settings: &[(&str, String)], extra: &[Property]) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap);
    cfg.set("client.id", "fjord-bench");
    for (k, v) in settings {
        cfg.set(*k, v);
    }
    for Property(k, v) in extra {
        cfg.set(k, v);
    }
    cfg
}

/// The partition count of `topic`, creating it with `partitions`, `replication_factor` and
/// the topic configs `topic_configs` if it does not exist. An existing topic keeps its own
/// count, replicas and configs.
pub fn ensure_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i32,
    extra: &[Property],
    topic_configs: &[Property],
) -> anyhow::Result<i32> {
    let admin: AdminClient<DefaultClientContext> = config(bootstrap, &[], extra)
        .create()
        .context("cannot create the admin client")?;
    if let Some(n) = partitions_of(&admin, topic)? {
        return Ok(n);
    }
    let mut new = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(replication_factor),
    );
    for Property(k, v) in topic_configs {
        new = new.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime
        .block_on(admin.create_topics([&new], &opts))
        .context("CreateTopics failed")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create topic {name}: {code}"),
        }
    }
    // Creation is asynchronous in Kafka; wait until metadata shows every partition.
    let deadline = Instant::now() + METADATA_TIMEOUT;
    loop {
        if let Some(n) = partitions_of(&admin, topic)? {
            if n >= partitions {
                return Ok(n);
            }
        }
        if Instant::now() > deadline {
            bail!("topic {topic} did not appear in metadata within {METADATA_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The partition count of an existing topic; an error if it does not exist.
pub fn existing_partitions(
    bootstrap: &str,
    topic: &str,
    extra: &[Property],
) -> anyhow::Result<i32> {
    let admin: AdminClient<DefaultClientContext> = config(bootstrap, &[], extra)
        .create()
        .context("cannot create the admin client")?;
    match partitions_of(&admin, topic)? {
        Some(n) => Ok(n),
        None => bail!("topic {topic} does not exist at {bootstrap}: produce to it first"),
    }
}

/// Asks for all topics rather than the one, so that no broker auto-creates it on our behalf.
fn partitions_of(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> anyhow::Result<Option<i32>> {
    let metadata = admin
        .inner()
        .fetch_metadata(None, METADATA_TIMEOUT)
        .context("cannot fetch metadata")?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32))
}

/// `count` payloads of `size` bytes of random capital letters: compressible about as much as
/// text, and varied enough that a compressor does not see one message repeated.
pub fn payloads(size: usize, count: usize) -> Vec<Vec<u8>> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            (0..size)
                .map(|_| {
                    // xorshift64: reproducible, no dependency, plenty random for filler.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b'A' + (state % 26) as u8
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_split_at_the_first_equals_sign() {
        let p: Property = "sasl.jaas=a=b".parse().unwrap();
        assert_eq!((p.0.as_str(), p.1.as_str()), ("sasl.jaas", "a=b"));
        assert!("novalue".parse::<Property>().is_err());
        assert!("=x".parse::<Property>().is_err());
    }

    #[test]
    fn payloads_have_the_asked_size_and_differ() {
        let p = payloads(100, 3);
        assert_eq!(p.len(), 3);
        assert!(p
            .iter()
            .all(|m| m.len() == 100 && m.iter().all(u8::is_ascii_uppercase)));
        assert_ne!(p[0], p[1]);
    }
}
