//! Gauges computed at scrape time from the partitions themselves, so they are never
//! stale and cost nothing between scrapes.

use crate::broker::Broker;
use std::fmt::Write;

/// Renders the registry plus the per-partition log gauges.
pub fn render(broker: &Broker) -> String {
    let mut out = broker.metrics.render();
    crate::quorum::metrics::render(broker, &mut out);
    crate::replication::gauges::render(broker, &mut out);
    crate::disk::render(&broker.config.log_dir, &mut out);
    let parts = broker.all_partitions();
    let mut gauge =
        |name: &str, help: &str, value: &dyn Fn(&crate::partition::Partition) -> String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for p in &parts {
                let _ = writeln!(
                    out,
                    "{name}{{topic=\"{}\",partition=\"{}\"}} {}",
                    p.topic,
                    p.index,
                    value(p)
                );
            }
        };
    gauge(
        "fjord_log_size_bytes",
        "Bytes on disk of a partition's log.",
        &|p| p.log.size_bytes().to_string(),
    );
    gauge(
        "fjord_log_segments",
        "Segments of a partition's log.",
        &|p| p.log.segment_count().to_string(),
    );
    gauge(
        "fjord_log_start_offset",
        "First offset still in a partition's log.",
        &|p| p.log.log_start_offset().to_string(),
    );
    gauge(
        "fjord_log_end_offset",
        "Next offset a partition's log will assign.",
        &|p| p.log.log_end_offset().to_string(),
    );
    let waiting: usize = parts.iter().map(|p| p.waiting()).sum();
    let _ = writeln!(
        out,
        "# HELP fjord_fetch_purgatory_size Fetch waits parked on partitions.\n# TYPE fjord_fetch_purgatory_size gauge\nfjord_fetch_purgatory_size {waiting}"
    );
    let _ = writeln!(
        out,
        "# HELP fjord_groups Consumer groups by state.\n# TYPE fjord_groups gauge"
    );
    for (state, n) in broker.groups.count_by_state() {
        let _ = writeln!(out, "fjord_groups{{state=\"{state}\"}} {n}");
    }
    // One pass over the committed offsets (shard by shard, under each shard's lock)
    // fills both families; nothing is copied out of the coordinator first.
    let mut committed = String::new();
    let mut lag = String::new();
    broker.groups.for_each_committed(|g, t, p, o| {
        let labels = format!(
            "group=\"{}\",topic=\"{}\",partition=\"{p}\"",
            escape(g),
            escape(t)
        );
        let _ = writeln!(committed, "fjord_group_committed_offset{{{labels}}} {o}");
        if let Some(part) = broker.partition(t, p) {
            let behind = (part.high_watermark() - o).max(0);
            let _ = writeln!(lag, "fjord_group_lag{{{labels}}} {behind}");
        }
    });
    family(
        &mut out,
        "fjord_group_committed_offset",
        "Committed offset per group and partition.",
        &committed,
    );
    family(
        &mut out,
        "fjord_group_lag",
        "Messages between a group's committed offset and the partition's high watermark.",
        &lag,
    );
    let _ = writeln!(
        out,
        "# HELP fjord_under_replicated_partitions Partitions this broker leads whose in-sync replicas (in the metadata image) are fewer than their replicas.\n# TYPE fjord_under_replicated_partitions gauge\nfjord_under_replicated_partitions {}",
        broker.under_replicated_partition_count()
    );
    let _ = writeln!(
        out,
        "# HELP fjord_under_min_isr_partitions Partitions this broker leads whose in-sync replicas are fewer than min.insync.replicas.\n# TYPE fjord_under_min_isr_partitions gauge\nfjord_under_min_isr_partitions {}",
        broker.under_min_isr_partition_count()
    );
    let _ = writeln!(
        out,
        "# HELP fjord_offline_partitions Partitions this broker should host whose log is not open (cannot be opened: disk full, too many open files, I/O errors).\n# TYPE fjord_offline_partitions gauge\nfjord_offline_partitions {}",
        broker.offline_partition_count()
    );
    out
}

/// Appends a gauge family: its HELP and TYPE lines, then `samples` (whole lines).
pub fn family(out: &mut String, name: &str, help: &str, samples: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    out.push_str(samples);
}

/// Escapes a label value per the Prometheus text format (group ids are free text).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
