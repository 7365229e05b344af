//! `fjord topic produce`: a quick check that a partition takes writes.

use std::io::BufRead;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fjord_client::{AdminClient, NewRecord};
use serde::Serialize;

use super::key_value;
use crate::args::ProduceArgs;
use crate::failure::Usage;
use crate::output::{self, Format, Report};

/// Records sent per Produce request when reading stdin.
const RECORDS_PER_BATCH: usize = 500;

#[derive(Debug, Serialize)]
struct Produced {
    topic: String,
    partition: i32,
    /// Offset of the first record written.
    base_offset: i64,
    count: usize,
}

impl Report for Produced {
    fn human(&self) -> String {
        format!(
            "produced {} record(s) to {}-{} at offset {}\n",
            self.count, self.topic, self.partition, self.base_offset
        )
    }
}

pub async fn run(admin: &AdminClient, args: ProduceArgs, format: Format) -> anyhow::Result<()> {
    let acks: i16 = if args.acks == "1" { 1 } else { -1 };
    let headers: Vec<(String, Option<Bytes>)> = args
        .headers
        .iter()
        .map(|h| key_value(h).map(|(k, v)| (k, Some(Bytes::from(v)))))
        .collect::<anyhow::Result<_>>()?;
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let record = |value: String| NewRecord {
        key: args.key.clone().map(Bytes::from),
        value: Some(Bytes::from(value)),
        headers: headers.clone(),
        timestamp,
    };
    let mut base_offset = None;
    let mut count = 0;
    let topic = args.topic.as_str();
    let send = |batch: Vec<NewRecord>| async move {
        admin.produce(topic, args.partition, &batch, acks).await
    };
    if let Some(value) = args.value.clone() {
        base_offset = Some(send(vec![record(value)]).await?);
        count = 1;
    } else {
        let stdin = std::io::stdin();
        let mut batch = Vec::new();
        for line in stdin.lock().lines() {
            batch.push(record(line?));
            if batch.len() == RECORDS_PER_BATCH {
                let first = send(std::mem::take(&mut batch)).await?;
                base_offset.get_or_insert(first);
                count += RECORDS_PER_BATCH;
            }
        }
        if !batch.is_empty() {
            count += batch.len();
            let first = send(batch).await?;
            base_offset.get_or_insert(first);
        }
    }
    let base_offset =
        base_offset.ok_or_else(|| Usage("nothing to produce: stdin was empty".into()))?;
    output::print(
        &Produced {
            topic: args.topic.clone(),
            partition: args.partition,
            base_offset,
            count,
        },
        format,
    )
}
