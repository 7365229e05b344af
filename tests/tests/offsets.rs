//! ListOffsets (earliest, latest, by timestamp) and DeleteRecords through rdkafka.

use std::collections::BTreeMap;

use fjord_tests::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const T0: i64 = 1_700_000_000_000;

/// `offsets_for_times` for one partition.
fn offset_for_time(consumer: &BaseConsumer, topic: &str, partition: i32, ts: i64) -> Offset {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(ts))
        .unwrap();
    let res = consumer
        .offsets_for_times(tpl, CLIENT_TIMEOUT)
        .expect("ListOffsets by timestamp");
    let e = res
        .find_partition(topic, partition)
        .expect("partition in result");
    e.error()
        .unwrap_or_else(|err| panic!("offsets_for_times {topic}/{partition} t={ts}: {err}"));
    e.offset()
}

#[test]
fn list_offsets_by_time_returns_the_first_offset_whose_timestamp_is_at_least_t() {
    let broker = Broker::start();
    let topic = "times";
    broker.create_topic(topic, 2, &[]);
    // Partition 0: 1000 messages, timestamps T0 + 10*i, produced in several batches.
    let msgs: Vec<Outgoing> = (0..1000)
        .map(|i| {
            let mut m = Outgoing::new(0, format!("k{i}"), format!("v{i}"));
            m.timestamp = Some(T0 + 10 * i as i64);
            m
        })
        .collect();
    let mut cfg = producer_config(&broker.bootstrap, "none");
    cfg.set("batch.num.messages", "64");
    let acked = produce_ok(&cfg, topic, &msgs);
    assert_eq!(acked.last(), Some(&(0, 999)));
    // Partition 1: timestamps out of order, one message per batch.
    for (i, ts) in [1000, 3000, 2000, 4000].into_iter().enumerate() {
        let mut m = Outgoing::new(1, "k", format!("p1-{i}"));
        m.timestamp = Some(T0 + ts);
        assert_eq!(produce_ok(&cfg, topic, &[m]), vec![(1, i as i64)]);
    }

    let consumer: BaseConsumer = consumer_config(&broker.bootstrap).create().unwrap();
    // Exactly a message's timestamp: that message.
    assert_eq!(offset_for_time(&consumer, topic, 0, T0), Offset::Offset(0));
    assert_eq!(
        offset_for_time(&consumer, topic, 0, T0 + 5000),
        Offset::Offset(500)
    );
    // Between two timestamps: the later one.
    assert_eq!(
        offset_for_time(&consumer, topic, 0, T0 + 5001),
        Offset::Offset(501)
    );
    assert_eq!(
        offset_for_time(&consumer, topic, 0, T0 + 9990),
        Offset::Offset(999)
    );
    // Before everything: the first message.
    assert_eq!(offset_for_time(&consumer, topic, 0, 1), Offset::Offset(0));
    // After everything: no offset (-1).
    assert_eq!(offset_for_time(&consumer, topic, 0, T0 + 9991), Offset::End);
    // Out-of-order timestamps: the first offset in log order whose timestamp is >= t.
    assert_eq!(
        offset_for_time(&consumer, topic, 1, T0 + 1500),
        Offset::Offset(1)
    );
    assert_eq!(
        offset_for_time(&consumer, topic, 1, T0 + 2000),
        Offset::Offset(1)
    );
    assert_eq!(
        offset_for_time(&consumer, topic, 1, T0 + 3500),
        Offset::Offset(3)
    );
    assert_eq!(offset_for_time(&consumer, topic, 1, T0 + 4001), Offset::End);

    // Consumed timestamps are the ones produced (CreateTime).
    let consumed = consume_range(
        &broker.bootstrap,
        topic,
        &BTreeMap::from([(0, (998, 1000))]),
    );
    let ts: Vec<_> = consumed[&0].iter().map(|c| c.timestamp).collect();
    assert_eq!(ts, vec![Some(T0 + 9980), Some(T0 + 9990)]);

    // Earliest and latest.
    assert_eq!(
        consumer.fetch_watermarks(topic, 0, CLIENT_TIMEOUT).unwrap(),
        (0, 1000)
    );
    assert_eq!(
        consumer.fetch_watermarks(topic, 1, CLIENT_TIMEOUT).unwrap(),
        (0, 4)
    );
}

#[test]
fn delete_records_moves_the_log_start_offset_durably() {
    let mut broker = Broker::start();
    let topic = "trimmed";
    broker.create_topic(topic, 2, &[]);
    produce_n(&broker.bootstrap, topic, 200, 2); // 100 per partition
    let admin = broker.admin();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(40))
        .unwrap();
    let res = block_on(admin.delete_records(&tpl, &admin_options())).expect("DeleteRecords");
    let e = res.find_partition(topic, 0).expect("partition 0 in result");
    assert_eq!(e.error(), Ok(()));
    assert_eq!(e.offset(), Offset::Offset(40), "new low watermark");

    // Beyond the high watermark: OFFSET_OUT_OF_RANGE, nothing deleted.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 1, Offset::Offset(101))
        .unwrap();
    let res = block_on(admin.delete_records(&tpl, &admin_options())).expect("DeleteRecords");
    let e = res.find_partition(topic, 1).expect("partition 1 in result");
    assert_eq!(
        e.error().err().and_then(|e| e.rdkafka_error_code()),
        Some(RDKafkaErrorCode::OffsetOutOfRange)
    );
    drop(admin);

    let check = |broker: &Broker| {
        let wm = watermarks(&broker.bootstrap, topic);
        assert_eq!(wm[&0], (40, 100));
        assert_eq!(wm[&1], (0, 100));
        let consumed = consume_all(&broker.bootstrap, topic);
        let offsets: Vec<i64> = consumed[&0].iter().map(|c| c.offset).collect();
        assert_eq!(offsets, (40..100).collect::<Vec<_>>());
        assert_eq!(consumed[&1].len(), 100);
    };
    check(&broker);
    broker.restart();
    check(&broker);
}
