//! End to end with rdkafka: what is produced is consumed back exactly, per codec, before and
//! after a restart; acknowledged messages survive kill -9; the idempotent producer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use fjord_tests::*;
use rdkafka::producer::Producer;

const PARTITIONS: i32 = 6;
const MESSAGES: usize = 100_000;
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// Payloads that compress (repeated text) but differ per message.
fn messages(codec: &str, n: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| {
            let mut m = Outgoing::new(
                (i % PARTITIONS as usize) as i32,
                format!("{codec}-key-{i}"),
                format!("{codec} message {i} {}", "abcdefgh".repeat(i % 16)),
            );
            if i % 1000 == 0 {
                m.headers.push(("seq".into(), i.to_string().into_bytes()));
            }
            m
        })
        .collect()
}

/// Asserts that `consumed` holds exactly the acknowledged messages: per partition, offsets
/// 0..n with no gap, each with its key, payload and headers, in the order they were sent.
fn assert_consumed_exactly(
    topic: &str,
    sent: &[Outgoing],
    acked: &[(i32, i64)],
    consumed: &BTreeMap<i32, Vec<Consumed>>,
) {
    let mut expected: BTreeMap<i32, Vec<(i64, &Outgoing)>> = BTreeMap::new();
    for (msg, &(p, off)) in sent.iter().zip(acked) {
        assert_eq!(
            Some(p),
            msg.partition,
            "{topic}: delivered to another partition"
        );
        expected.entry(p).or_default().push((off, msg));
    }
    assert_eq!(
        consumed.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{topic}: partitions"
    );
    for (p, exp) in &expected {
        // Sent order within a partition is offset order.
        assert!(
            exp.windows(2).all(|w| w[0].0 < w[1].0),
            "{topic}/{p}: acknowledged offsets are not increasing in send order"
        );
        let got = &consumed[p];
        assert_eq!(got.len(), exp.len(), "{topic}/{p}: message count");
        for (i, ((off, msg), c)) in exp.iter().zip(got).enumerate() {
            assert_eq!(c.offset, i as i64, "{topic}/{p}: offsets are not 0..n");
            assert_eq!(c.offset, *off, "{topic}/{p}: offset differs from the ack");
            assert_eq!(
                c.key.as_deref(),
                msg.key.as_deref(),
                "{topic}/{p}@{off}: key"
            );
            assert_eq!(
                c.payload.as_deref(),
                Some(&msg.payload[..]),
                "{topic}/{p}@{off}: payload"
            );
            assert_eq!(c.headers, msg.headers, "{topic}/{p}@{off}: headers");
        }
    }
}

#[test]
fn every_codec_round_trips_100k_messages_exactly_before_and_after_restart() {
    let mut broker = Broker::start();
    let mut sent = Vec::new();
    for codec in CODECS {
        let topic = format!("codec-{codec}");
        broker.create_topic(&topic, PARTITIONS, &[]);
        let msgs = messages(codec, MESSAGES);
        let mut cfg = producer_config(&broker.bootstrap, codec);
        cfg.set("batch.num.messages", "2000");
        let t = Instant::now();
        let acked = produce_ok(&cfg, &topic, &msgs);
        eprintln!("{topic}: produced {MESSAGES} in {:?}", t.elapsed());
        let t = Instant::now();
        let consumed = consume_all(&broker.bootstrap, &topic);
        eprintln!("{topic}: consumed {MESSAGES} in {:?}", t.elapsed());
        assert_consumed_exactly(&topic, &msgs, &acked, &consumed);
        sent.push((topic, msgs, acked));
    }

    broker.restart();
    for (topic, msgs, acked) in &sent {
        let wm = watermarks(&broker.bootstrap, topic);
        for (p, (low, high)) in &wm {
            let n = acked.iter().filter(|(ap, _)| ap == p).count() as i64;
            assert_eq!(
                (*low, *high),
                (0, n),
                "{topic}/{p}: watermarks after restart"
            );
        }
        let consumed = consume_all(&broker.bootstrap, topic);
        assert_consumed_exactly(topic, msgs, acked, &consumed);
    }
}

#[test]
fn every_acknowledged_message_survives_kill_9_during_produce() {
    let mut broker = Broker::start();
    let topic = "kill9";
    broker.create_topic(topic, 3, &[]);

    let mut cfg = producer_config(&broker.bootstrap, "none");
    cfg.set("message.timeout.ms", "5000")
        .set("linger.ms", "1")
        .set("batch.num.messages", "200");
    let (producer, collector) = collecting_producer(&cfg);
    let stop = Arc::new(AtomicBool::new(false));
    let limit = 400_000;
    let sender = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut sent = Vec::new();
            for i in 0..limit {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let m = Outgoing::new(
                    (i % 3) as i32,
                    format!("k{i}"),
                    format!("kill9 payload {i}"),
                );
                send(&producer, topic, i, &m);
                sent.push(m);
                if i % 100 == 0 {
                    // Keep the broker busy without filling the local queue in one go.
                    thread::sleep(Duration::from_millis(1));
                }
            }
            // Unacknowledged messages time out (message.timeout.ms) once the broker is gone.
            let _ = producer.flush(Duration::from_secs(30));
            (producer, sent)
        })
    };
    wait_until(
        Duration::from_secs(120),
        "20000 acknowledged messages before the kill",
        || collector.acked() >= 20_000,
    );
    broker.kill9();
    let acked_at_kill = collector.acked();
    stop.store(true, Ordering::Relaxed);
    let (_producer, sent) = sender.join().expect("sender thread");
    wait_until(Duration::from_secs(60), "every delivery report", || {
        collector.count() == sent.len()
    });
    let reports = collector.reports();
    let acked: Vec<(usize, i32, i64)> = reports
        .iter()
        .filter_map(|d| d.result.as_ref().ok().map(|&(p, o)| (d.seq, p, o)))
        .collect();
    eprintln!(
        "sent {}, acked {} ({} when killed), failed {}",
        sent.len(),
        acked.len(),
        acked_at_kill,
        sent.len() - acked.len()
    );
    assert!(acked.len() >= 20_000);

    broker.start_again();
    let consumed = consume_all(&broker.bootstrap, topic);
    let by_offset: BTreeMap<(i32, i64), &Consumed> = consumed
        .values()
        .flatten()
        .map(|c| ((c.partition, c.offset), c))
        .collect();
    for (seq, p, off) in acked {
        let c = by_offset.get(&(p, off)).unwrap_or_else(|| {
            panic!("acknowledged message {seq} at {topic}/{p}@{off} is missing after kill -9")
        });
        assert_eq!(
            c.payload.as_deref(),
            Some(&sent[seq].payload[..]),
            "{topic}/{p}@{off}: payload after kill -9"
        );
        assert_eq!(c.key.as_deref(), sent[seq].key.as_deref());
    }
    // What was stored is still appendable and readable.
    let after = produce_ok(
        &producer_config(&broker.bootstrap, "none"),
        topic,
        &[Outgoing::new(0, "after", "after restart")],
    );
    let wm = watermarks(&broker.bootstrap, topic);
    assert_eq!(
        after[0].1 + 1,
        wm[&0].1,
        "append after recovery lands at the end"
    );
}

#[test]
fn idempotent_producer_delivers_each_message_once_in_order() {
    let broker = Broker::start();
    let topic = "idempotent";
    broker.create_topic(topic, 3, &[]);
    let mut cfg = producer_config(&broker.bootstrap, "lz4");
    cfg.set("enable.idempotence", "true")
        .set("max.in.flight.requests.per.connection", "5")
        .set("batch.num.messages", "500");
    let msgs = messages("idem", 30_000)
        .into_iter()
        .map(|mut m| {
            m.partition = m.partition.map(|p| p % 3);
            m
        })
        .collect::<Vec<_>>();
    let acked = produce_ok(&cfg, topic, &msgs);
    let consumed = consume_all(&broker.bootstrap, topic);
    assert_consumed_exactly(topic, &msgs, &acked, &consumed);
}
