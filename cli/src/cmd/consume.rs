//! `fjord topic consume`: read records from chosen positions and print them, one per line.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fjord_client::{AdminClient, FetchedRecord, OffsetSpec};
use serde::Serialize;

use super::parse_time;
use crate::args::ConsumeArgs;
use crate::failure::{NotFound, Usage};

/// Bytes asked for per Fetch.
const FETCH_BYTES: i32 = 1024 * 1024;
/// How long one Fetch may wait on the broker for new data.
const FETCH_WAIT_MS: i32 = 500;

/// One record in `--format json` (one object per line).
#[derive(Debug, Serialize)]
struct JsonRecord<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<JsonHeader>,
}

#[derive(Debug, Serialize)]
struct JsonHeader {
    key: String,
    value: Option<String>,
}

fn text(b: &Option<Bytes>) -> Option<String> {
    b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
}

pub async fn run(admin: &AdminClient, args: ConsumeArgs) -> anyhow::Result<()> {
    let topic = admin
        .describe_topic(&args.topic)
        .await?
        .ok_or_else(|| NotFound(format!("topic {:?} does not exist", args.topic)))?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if topic.partitions.iter().any(|i| i.partition == p) => vec![p],
        Some(p) => {
            return Err(NotFound(format!("topic {:?} has no partition {p}", args.topic)).into())
        }
        None => topic.partitions.iter().map(|p| p.partition).collect(),
    };
    let mut positions = start_positions(admin, &args, &partitions).await?;
    let ends = admin
        .list_offsets(&args.topic, &partitions, OffsetSpec::Latest)
        .await?;
    let deadline = Instant::now() + Duration::from_millis(args.timeout_ms);
    let mut printed = 0usize;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        let mut caught_up = true;
        for (&partition, position) in positions.iter_mut() {
            let end = ends.get(&partition).copied().flatten().unwrap_or(0);
            if args.max_messages.is_none() && *position >= end {
                continue;
            }
            caught_up = false;
            let fetched = admin
                .fetch(
                    &args.topic,
                    partition,
                    *position,
                    FETCH_BYTES,
                    FETCH_WAIT_MS,
                )
                .await?;
            for r in &fetched.records {
                if args.max_messages.is_some_and(|n| printed >= n) {
                    break;
                }
                print_record(&mut out, &args, partition, r)?;
                printed += 1;
                *position = r.offset + 1;
            }
            *position = (*position).max(fetched.next_offset.min(fetched.high_watermark));
        }
        out.flush()?;
        let done = match args.max_messages {
            Some(n) => printed >= n,
            None => caught_up,
        };
        if done || Instant::now() >= deadline {
            return Ok(());
        }
    }
}

/// Where each partition starts reading.
async fn start_positions(
    admin: &AdminClient,
    args: &ConsumeArgs,
    partitions: &[i32],
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let spec = if let Some(t) = &args.from_timestamp {
        OffsetSpec::Timestamp(parse_time(t)?)
    } else {
        match args.from.as_str() {
            "beginning" => OffsetSpec::Earliest,
            "end" => OffsetSpec::Latest,
            offset => {
                let offset: i64 = offset.parse().map_err(|_| {
                    Usage(format!(
                        "--from {offset:?}: use beginning, end or an offset number"
                    ))
                })?;
                if args.partition.is_none() {
                    return Err(Usage("--from OFFSET needs --partition".into()).into());
                }
                return Ok(partitions.iter().map(|p| (*p, offset)).collect());
            }
        }
    };
    let found = admin.list_offsets(&args.topic, partitions, spec).await?;
    let latest = if matches!(spec, OffsetSpec::Timestamp(_)) {
        admin
            .list_offsets(&args.topic, partitions, OffsetSpec::Latest)
            .await?
    } else {
        BTreeMap::new()
    };
    // No record at or after the timestamp: start at the end, as Kafka's consumers do.
    Ok(partitions
        .iter()
        .map(|p| {
            let at = found
                .get(p)
                .copied()
                .flatten()
                .or_else(|| latest.get(p).copied().flatten())
                .unwrap_or(0);
            (*p, at)
        })
        .collect())
}

fn print_record(
    out: &mut impl Write,
    args: &ConsumeArgs,
    partition: i32,
    r: &FetchedRecord,
) -> anyhow::Result<()> {
    if args.format == "json" {
        let json = JsonRecord {
            topic: &args.topic,
            partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: text(&r.key),
            value: text(&r.value),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| JsonHeader {
                    key: k.clone(),
                    value: text(v),
                })
                .collect(),
        };
        serde_json::to_writer(&mut *out, &json)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", text(&r.value).unwrap_or_default())?;
    }
    Ok(())
}
