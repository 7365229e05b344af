//! The metadata quorum's gauges, computed at scrape time from openraft's metrics and
//! the image: active controller, leader and term, applied index, metadata log size,
//! fenced brokers and each follower's lag behind the leader's log.

use crate::broker::Broker;
use fjord_metadata::raft::kafka_id;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub fn render(broker: &Broker, out: &mut String) {
    let q = &broker.quorum;
    let m = q.raft().metrics().borrow().clone();
    let image = q.image();
    let leader = m.current_leader.map_or(-1, kafka_id);
    let active = i32::from(leader == broker.config.node_id);
    let fenced = image.brokers.values().filter(|b| b.fenced).count();
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    gauge(
        "fjord_metadata_active_controller",
        "1 on the active controller, else 0.",
        active.to_string(),
    );
    gauge(
        "fjord_metadata_quorum_leader",
        "Node id of the metadata quorum's leader (-1: none).",
        leader.to_string(),
    );
    gauge(
        "fjord_metadata_quorum_term",
        "Current term (epoch) of the metadata quorum.",
        m.current_term.to_string(),
    );
    gauge(
        "fjord_metadata_applied_index",
        "Last metadata log index applied to this node's image.",
        m.last_applied.map_or(0, |l| l.index).to_string(),
    );
    gauge(
        "fjord_metadata_log_size_bytes",
        "Bytes in this node's metadata log since its last snapshot.",
        q.log_size.load(Ordering::Relaxed).to_string(),
    );
    let imbalance = if active == 1 {
        super::elect::imbalance_count(&image)
    } else {
        0
    };
    gauge(
        "fjord_preferred_replica_imbalance_count",
        "Partitions whose leader is not their preferred replica, offline ones included (on the active controller; 0 elsewhere).",
        imbalance.to_string(),
    );
    gauge(
        "fjord_metadata_fenced_brokers",
        "Registered brokers that are fenced.",
        fenced.to_string(),
    );
    let _ = writeln!(
        out,
        "# HELP fjord_metadata_follower_lag Entries a voter is behind the leader's log (on the leader).\n# TYPE fjord_metadata_follower_lag gauge"
    );
    if let Some(replication) = &m.replication {
        let last = m.last_log_index.unwrap_or(0);
        for (node, matched) in replication {
            let lag = last.saturating_sub(matched.map_or(0, |l| l.index));
            let _ = writeln!(out, "fjord_metadata_follower_lag{{node=\"{node}\"}} {lag}");
        }
    }
}
