//! What the admin client returns and takes: plain data, independent of Kafka's wire structs.

use std::collections::BTreeMap;

/// The cluster as the broker answering sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// Kafka's cluster id (empty if the broker did not report one).
    pub cluster_id: String,
    /// Node id of the active controller, -1 if unknown.
    pub controller_id: i32,
    /// Brokers the cluster currently knows (fenced brokers are not listed).
    pub brokers: Vec<BrokerInfo>,
}

/// One broker and the address clients should use for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

/// A topic and where its partitions live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic id (nil when the broker only speaks Metadata below v10).
    pub topic_id: uuid::Uuid,
    /// Partitions sorted by partition id.
    pub partitions: Vec<PartitionInfo>,
}

/// One partition's leader and replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition id.
    pub partition: i32,
    /// Leader node id, -1 while there is none.
    pub leader: i32,
    /// Assigned replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
}

/// A topic to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count; ignored when `assignment` is given (Kafka then requires -1).
    pub partitions: i32,
    /// Replication factor; ignored when `assignment` is given (Kafka then requires -1).
    pub replication_factor: i16,
    /// Explicit replica assignment: entry `i` is the broker ids for partition `i`, preferred
    /// leader first.
    pub assignment: Option<Vec<Vec<i32>>>,
    /// Topic configs (`retention.ms`, `cleanup.policy`, ...).
    pub configs: BTreeMap<String, String>,
}

/// One topic config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Config name, e.g. `retention.ms`.
    pub name: String,
    /// Value; `None` for sensitive configs and for unset ones without default.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether it cannot be changed.
    pub read_only: bool,
    /// Whether the value is a secret the broker does not return.
    pub sensitive: bool,
}

/// Where a config value comes from (Kafka's `ConfigSource`, folded to what a topic needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// Set on this topic (`DYNAMIC_TOPIC_CONFIG`).
    DynamicTopic,
    /// Set dynamically on a broker or as the cluster-wide dynamic default
    /// (`DYNAMIC_BROKER_CONFIG`, `DYNAMIC_DEFAULT_BROKER_CONFIG`).
    DynamicBroker,
    /// From the broker's properties file or flags (`STATIC_BROKER_CONFIG`).
    StaticBroker,
    /// Kafka's built-in default (`DEFAULT_CONFIG`).
    Default,
    /// Anything else, including `UNKNOWN` and sources newer than this client.
    Unknown,
}

impl ConfigSource {
    /// Maps Kafka's wire value (DescribeConfigs v1+ `config_source`).
    pub fn from_kafka(source: i8) -> ConfigSource {
        match source {
            1 => ConfigSource::DynamicTopic,
            2 | 3 => ConfigSource::DynamicBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            _ => ConfigSource::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_sources_follow_kafkas_numbering() {
        assert_eq!(ConfigSource::from_kafka(1), ConfigSource::DynamicTopic);
        assert_eq!(ConfigSource::from_kafka(2), ConfigSource::DynamicBroker);
        assert_eq!(ConfigSource::from_kafka(3), ConfigSource::DynamicBroker);
        assert_eq!(ConfigSource::from_kafka(4), ConfigSource::StaticBroker);
        assert_eq!(ConfigSource::from_kafka(5), ConfigSource::Default);
        assert_eq!(ConfigSource::from_kafka(0), ConfigSource::Unknown);
        assert_eq!(ConfigSource::from_kafka(6), ConfigSource::Unknown);
    }
}
