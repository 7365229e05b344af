//! `fjord cluster status`.

use std::collections::BTreeMap;

use fjord_client::{AdminClient, Connection, QuorumInfo, QuorumReplica, TopicInfo};
use serde::Serialize;

use crate::output::{self, Format, Report};
use crate::settings::Settings;
use crate::table;

/// Kafka's `min.insync.replicas` default, used when a topic's value cannot be read.
const DEFAULT_MIN_ISR: usize = 1;

#[derive(Debug, Serialize)]
struct Status {
    cluster_id: String,
    controller_id: i32,
    brokers: Vec<Broker>,
    /// `None` when the cluster has no KRaft quorum to describe (or refused to).
    quorum: Option<Quorum>,
    partitions: PartitionHealth,
}

#[derive(Debug, Serialize)]
struct Quorum {
    leader_id: i32,
    leader_epoch: i32,
    high_watermark: i64,
    voters: Vec<QuorumMember>,
    observers: Vec<QuorumMember>,
}

#[derive(Debug, Serialize)]
struct QuorumMember {
    id: i32,
    log_end_offset: i64,
    /// Records behind the leader's log end offset.
    lag: i64,
    last_fetch_timestamp: Option<i64>,
    last_caught_up_timestamp: Option<i64>,
}

impl Quorum {
    fn from_info(q: &QuorumInfo) -> Quorum {
        let member = |r: &QuorumReplica| QuorumMember {
            id: r.replica_id,
            log_end_offset: r.log_end_offset,
            lag: q.lag(r),
            last_fetch_timestamp: r.last_fetch_timestamp,
            last_caught_up_timestamp: r.last_caught_up_timestamp,
        };
        Quorum {
            leader_id: q.leader_id,
            leader_epoch: q.leader_epoch,
            high_watermark: q.high_watermark,
            voters: q.voters.iter().map(member).collect(),
            observers: q.observers.iter().map(member).collect(),
        }
    }

    fn human(&self, now_ms: i64) -> String {
        let mut out = format!(
            "quorum: leader {}, epoch {}, high watermark {}\n",
            self.leader_id, self.leader_epoch, self.high_watermark
        );
        let ago =
            |t: Option<i64>| table::or_dash(t.map(|t| format!("{} ms ago", (now_ms - t).max(0))));
        let rows: Vec<Vec<String>> = self
            .voters
            .iter()
            .map(|m| {
                (
                    m,
                    if m.id == self.leader_id {
                        "leader"
                    } else {
                        "voter"
                    },
                )
            })
            .chain(self.observers.iter().map(|m| (m, "observer")))
            .map(|(m, role)| {
                vec![
                    m.id.to_string(),
                    role.to_owned(),
                    m.log_end_offset.to_string(),
                    m.lag.to_string(),
                    ago(m.last_caught_up_timestamp),
                ]
            })
            .collect();
        out.push_str(&table::render(
            &["ID", "ROLE", "LOG_END_OFFSET", "LAG", "LAST_CAUGHT_UP"],
            &rows,
        ));
        out
    }
}

#[derive(Debug, Serialize)]
struct Broker {
    id: i32,
    rack: Option<String>,
    host: String,
    port: i32,
    reachable: bool,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
struct PartitionHealth {
    total: usize,
    under_replicated: usize,
    under_min_isr: usize,
    offline: usize,
}

impl Report for Status {
    fn human(&self) -> String {
        let mut out = format!(
            "cluster id: {}\ncontroller: {}\n\n",
            self.cluster_id, self.controller_id
        );
        let rows: Vec<Vec<String>> = self
            .brokers
            .iter()
            .map(|b| {
                vec![
                    b.id.to_string(),
                    format!("{}:{}", b.host, b.port),
                    table::or_dash(b.rack.as_deref()),
                    if b.reachable { "yes" } else { "NO" }.to_owned(),
                    if b.id == self.controller_id { "*" } else { "" }.to_owned(),
                ]
            })
            .collect();
        out.push_str(&table::render(
            &["ID", "ADDRESS", "RACK", "REACHABLE", "CONTROLLER"],
            &rows,
        ));
        if let Some(q) = &self.quorum {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            out.push('\n');
            out.push_str(&q.human(now_ms));
        }
        let p = &self.partitions;
        out.push_str(&format!(
            "\npartitions: {} total, {} under-replicated, {} under min ISR, {} offline\n",
            p.total, p.under_replicated, p.under_min_isr, p.offline
        ));
        out
    }
}

pub async fn status(
    admin: &AdminClient,
    settings: &Settings,
    format: Format,
) -> anyhow::Result<()> {
    let cluster = admin.describe_cluster().await?;
    let topics = admin.list_topics().await?;
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let min_isr: BTreeMap<String, usize> = admin
        .topic_config_values(&names, "min.insync.replicas")
        .await?
        .into_iter()
        .filter_map(|(t, v)| Some((t, v.parse().ok()?)))
        .collect();
    let mut brokers = Vec::new();
    for b in &cluster.brokers {
        let addr = format!("{}:{}", b.host, b.port);
        let reachable = Connection::connect(&addr, &settings.client).await.is_ok();
        brokers.push(Broker {
            id: b.node_id,
            rack: b.rack.clone(),
            host: b.host.clone(),
            port: b.port,
            reachable,
        });
    }
    brokers.sort_by_key(|b| b.id);
    let quorum = match admin.describe_quorum().await {
        Ok(q) => q.as_ref().map(Quorum::from_info),
        // The rest of the status is still worth printing (e.g. without DESCRIBE on the
        // cluster); scripts see `"quorum": null`.
        Err(e) => {
            eprintln!("warning: describing the metadata quorum: {e}");
            None
        }
    };
    let report = Status {
        cluster_id: cluster.cluster_id,
        controller_id: cluster.controller_id,
        brokers,
        quorum,
        partitions: health(&topics, &min_isr),
    };
    output::print(&report, format)
}

/// Counts partitions by health. Offline: no leader. Under-replicated: fewer in-sync replicas
/// than replicas. Under min ISR: fewer in-sync replicas than the topic's `min.insync.replicas`
/// (so `acks=all` produces fail).
fn health(topics: &[TopicInfo], min_isr: &BTreeMap<String, usize>) -> PartitionHealth {
    let mut h = PartitionHealth::default();
    for t in topics {
        let min = min_isr.get(&t.name).copied().unwrap_or(DEFAULT_MIN_ISR);
        for p in &t.partitions {
            h.total += 1;
            if p.leader < 0 {
                h.offline += 1;
            }
            if p.isr.len() < p.replicas.len() {
                h.under_replicated += 1;
            }
            if p.isr.len() < min {
                h.under_min_isr += 1;
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjord_client::PartitionInfo;

    fn partition(partition: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionInfo {
        PartitionInfo {
            partition,
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
        }
    }

    #[test]
    fn partitions_are_counted_by_health() {
        let topics = vec![TopicInfo {
            name: "orders".into(),
            topic_id: Default::default(),
            partitions: vec![
                partition(0, 1, &[1, 2, 3], &[1, 2, 3]),
                partition(1, 2, &[1, 2, 3], &[2, 3]),
                partition(2, 3, &[1, 2, 3], &[3]),
                partition(3, -1, &[1, 2, 3], &[]),
            ],
        }];
        let min = BTreeMap::from([("orders".to_owned(), 2)]);
        assert_eq!(
            health(&topics, &min),
            PartitionHealth {
                total: 4,
                under_replicated: 3,
                under_min_isr: 2,
                offline: 1
            }
        );
    }
}
