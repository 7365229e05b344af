//! Replication gauges computed at scrape time: how many partitions this broker leads and how
//! far each of their followers is behind (Kafka's `LeaderCount` and the leader's view of a
//! follower's lag that `replica.lag.time.max.ms` is judged on).

use super::role::Role;
use crate::broker::Broker;
use crate::gauges::family;
use std::fmt::Write;

pub fn render(broker: &Broker, out: &mut String) {
    let me = broker.config.node_id;
    let leaders = broker
        .image()
        .topics
        .values()
        .map(|t| (0..t.replicas.len()).filter(|&p| t.leader(p) == me).count())
        .sum::<usize>();
    let _ = writeln!(
        out,
        "# HELP fjord_leader_count Partitions this broker leads (in the metadata image).\n# TYPE fjord_leader_count gauge\nfjord_leader_count {leaders}"
    );
    let now = super::manager::now_ms();
    let mut records = String::new();
    let mut seconds = String::new();
    for p in broker.all_partitions() {
        let Role::Leader(l) = &*p.role.lock() else {
            continue;
        };
        for lag in l.state.follower_lag(now) {
            let labels = format!(
                "topic=\"{}\",partition=\"{}\",replica=\"{}\"",
                p.topic, p.index, lag.replica
            );
            let _ = writeln!(
                records,
                "fjord_replica_lag_records{{{labels}}} {}",
                lag.records
            );
            let _ = writeln!(
                seconds,
                "fjord_replica_lag_seconds{{{labels}}} {:.3}",
                lag.time_ms as f64 / 1000.0
            );
        }
    }
    family(
        out,
        "fjord_replica_lag_records",
        "Records a follower has not fetched yet (on the partition's leader).",
        &records,
    );
    family(
        out,
        "fjord_replica_lag_seconds",
        "Time since a follower last held everything its leader had (on the leader; compared with replica.lag.time.max.ms).",
        &seconds,
    );
}
