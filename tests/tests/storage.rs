//! Storage through a real broker process: many partitions under a descriptor limit, and a
//! sealed segment corrupted on disk while the broker was down.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fjord_tests::{
    consume_range, produce_ok, producer_config, wait_until, watermarks, Broker, Outgoing,
    CLIENT_TIMEOUT,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

fn open_descriptors(broker: &Broker) -> usize {
    let pid = broker.pid().expect("broker running");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list /proc/<pid>/fd")
        .count()
}

const TOPICS: usize = 10;
const PARTITIONS_PER_TOPIC: i32 = 1000;

#[test]
fn ten_thousand_partitions_are_created_served_and_restarted_under_a_20000_descriptor_limit() {
    let started = Instant::now();
    let mut broker = Broker::start_limited(&[], Some(20_000));
    let baseline = open_descriptors(&broker);
    let topics: Vec<String> = (0..TOPICS).map(|t| format!("many-{t}")).collect();
    for t in &topics {
        broker.create_topic(t, PARTITIONS_PER_TOPIC, &[]);
    }
    let created = open_descriptors(&broker);
    let partitions = TOPICS * PARTITIONS_PER_TOPIC as usize;
    eprintln!(
        "{partitions} partitions created in {:?}: {created} descriptors ({baseline} before), {:.2} per partition",
        started.elapsed(),
        (created - baseline) as f64 / partitions as f64
    );
    assert!(
        created - baseline <= partitions + partitions / 10,
        "about one descriptor per partition, got {} for {partitions}",
        created - baseline
    );

    // A sample: every 97th partition of each topic gets three records.
    let sample: Vec<i32> = (0..PARTITIONS_PER_TOPIC).step_by(97).collect();
    let cfg = producer_config(&broker.bootstrap, "none");
    for t in &topics {
        let msgs: Vec<Outgoing> = sample
            .iter()
            .flat_map(|&p| {
                (0..3).map(move |i| Outgoing::new(p, format!("k{i}"), format!("{p}-{i}")))
            })
            .collect();
        produce_ok(&cfg, t, &msgs);
    }

    let restart = Instant::now();
    broker.restart();
    eprintln!(
        "restart with {partitions} partitions took {:?}; {} descriptors after it",
        restart.elapsed(),
        open_descriptors(&broker)
    );
    for t in &topics {
        let ranges: BTreeMap<i32, (i64, i64)> = sample.iter().map(|&p| (p, (0, 3))).collect();
        let got = consume_range(&broker.bootstrap, t, &ranges);
        for (p, records) in got {
            let payloads: Vec<Vec<u8>> = records.into_iter().filter_map(|r| r.payload).collect();
            let want: Vec<Vec<u8>> = (0..3).map(|i| format!("{p}-{i}").into_bytes()).collect();
            assert_eq!(payloads, want, "{t}/{p}");
        }
    }
    let marks = watermarks(&broker.bootstrap, &topics[0]);
    assert_eq!(marks.len(), PARTITIONS_PER_TOPIC as usize);
    eprintln!("whole test took {:?}", started.elapsed());
}

#[test]
fn bytes_overwritten_in_a_sealed_segment_are_never_served_silently() {
    let mut broker = Broker::start();
    let topic = "rot";
    // Small segments so the early records sit in sealed segments.
    broker.create_topic(topic, 1, &[("segment.bytes", "8192")]);
    let cfg = producer_config(&broker.bootstrap, "none");
    let msgs: Vec<Outgoing> = (0..200)
        .map(|i| {
            Outgoing::new(
                0,
                format!("k{i}"),
                format!("value-{i:04}-{}", "v".repeat(80)),
            )
        })
        .collect();
    // One record per batch, so every batch fits a segment.
    produce_ok(
        &cfg.clone().set("batch.num.messages", "1").clone(),
        topic,
        &msgs,
    );
    broker.stop();

    let dir = broker.data_dir.join(format!("{topic}-0"));
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 3, "expected sealed segments, got {logs:?}");
    let first = &logs[0];
    let mut data = std::fs::read(first).unwrap();
    // Batch boundaries (batchLength at bytes 8..12 of each batch), to overwrite record bytes
    // of the middle batch rather than a header that recovery would reject on its own.
    let mut batches = Vec::new();
    let mut pos = 0;
    while pos + 12 <= data.len() {
        let len = i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap()) as usize;
        batches.push((pos, 12 + len));
        pos += 12 + len;
    }
    let (at, size) = batches[batches.len() / 2];
    for (i, b) in data[at + size - 24..at + size - 8].iter_mut().enumerate() {
        *b ^= 0x5a ^ i as u8;
    }
    std::fs::write(first, &data).unwrap();

    broker.start_again();
    let consumer: BaseConsumer = fjord_tests::consumer_config(&broker.bootstrap)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let sent: Vec<Vec<u8>> = msgs.iter().map(|m| m.payload.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(20).min(CLIENT_TIMEOUT);
    let mut received = 0;
    let mut last_offset = -1;
    while Instant::now() < deadline {
        let Some(res) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let Ok(m) = res else { continue };
        let payload = m.payload().unwrap_or_default().to_vec();
        assert_eq!(
            payload,
            sent[m.offset() as usize],
            "offset {} was served with corrupted contents",
            m.offset()
        );
        received += 1;
        last_offset = m.offset();
    }
    assert!(
        last_offset < 199,
        "every record was served ({received}), including the corrupted batch"
    );
    let name = first.file_name().unwrap().to_string_lossy().to_string();
    wait_until(
        Duration::from_secs(10),
        "a log line names the corrupt file",
        || {
            broker
                .log()
                .lines()
                .any(|l| l.contains("corrupt record batch"))
        },
    );
    let log = broker.log();
    assert!(
        log.lines().any(|l| l.contains("corrupt record batch")
            && l.contains(&name)
            && l.contains("position")),
        "no log line names the corrupt file and position; log:\n{log}"
    );
}
