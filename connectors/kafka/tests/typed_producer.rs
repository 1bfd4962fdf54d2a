//! The typed producer against the real broker: keys, headers, timestamps, partition
//! choice, batches, options and clear errors.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use kflow_core::transport::partition_for_key;
use kflow_kafka::{Acks, Compression, Partitioning, ProduceRecord, ProducerOptions, TypedProducer};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    item: String,
}

fn order(id: u64) -> Order {
    Order {
        id,
        item: format!("item-{id}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_arrives_with_its_key_headers_timestamp_and_reported_position() {
    let t = real();
    let topic = unique("typed-one");
    create(&t, &topic, 3).await;
    let producer = TypedProducer::<String, Order>::json(t.config(), ProducerOptions::new()).unwrap();
    let at = producer
        .send(
            ProduceRecord::new(&topic, order(7))
                .key("customer-7".into())
                .header("source", "checkout")
                .header("trace", vec![1u8, 2, 3])
                .timestamp(1_700_000_000_123),
        )
        .await
        .unwrap();
    assert_eq!(at.partition, partition_for_key(b"customer-7", 3), "Kafka's key hash");
    assert_eq!(at.offset, 0);
    let read = read_full(&t, &topic, 1, Duration::from_secs(20));
    assert_eq!(read.len(), 1);
    let r = &read[0];
    assert_eq!((r.partition, r.offset), (at.partition, at.offset));
    assert_eq!(r.key.as_deref(), Some("customer-7"));
    assert_eq!(
        serde_json::from_slice::<Order>(r.bytes.as_ref().unwrap()).unwrap(),
        order(7)
    );
    assert_eq!(r.header("source"), Some("checkout"));
    assert_eq!(
        r.headers.iter().find(|(n, _)| n == b"trace").map(|(_, v)| v.clone()),
        Some(vec![1, 2, 3])
    );
    assert_eq!(r.timestamp, Some(1_700_000_000_123));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reports_every_record_in_order_and_keys_hash_like_kafka() {
    let t = real();
    let topic = unique("typed-batch");
    create(&t, &topic, 4).await;
    let producer = TypedProducer::<String, Order>::json(
        t.config(),
        ProducerOptions::new()
            .compression(Compression::Zstd)
            .linger(Duration::from_millis(20))
            .batch_size(64 * 1024),
    )
    .unwrap();
    let records = (0..200).map(|i| ProduceRecord::new(&topic, order(i)).key(format!("k{}", i % 17)));
    let reports = producer.send_batch(records).await;
    assert_eq!(reports.len(), 200);
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (i, report) in reports.iter().enumerate() {
        let at = report.as_ref().expect("delivered");
        let key = format!("k{}", i % 17);
        assert_eq!(at.partition, partition_for_key(key.as_bytes(), 4), "record {i}");
        let expected = next.entry(at.partition).or_insert(0);
        assert_eq!(at.offset, *expected, "offsets per partition follow the batch order");
        *expected += 1;
    }
    let read = read_full(&t, &topic, 200, Duration::from_secs(30));
    assert_eq!(read.len(), 200);
    let ids: BTreeSet<u64> = read
        .iter()
        .map(|r| serde_json::from_slice::<Order>(r.bytes.as_ref().unwrap()).unwrap().id)
        .collect();
    assert_eq!(ids, (0..200).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_sticky_and_explicit_partitions_place_records_as_asked() {
    let t = real();
    let topic = unique("typed-place");
    create(&t, &topic, 3).await;
    let round_robin = TypedProducer::<String, u64>::json(
        t.config(),
        ProducerOptions::new().partitioning(Partitioning::RoundRobin),
    )
    .unwrap();
    let parts: Vec<i32> = round_robin
        .send_batch((0..9).map(|i| ProduceRecord::new(&topic, i).key("same-key".into())))
        .await
        .into_iter()
        .map(|r| r.unwrap().partition)
        .collect();
    for w in parts.windows(2) {
        assert_eq!(w[1], (w[0] + 1) % 3, "round-robin ignores the key: {parts:?}");
    }

    let sticky = TypedProducer::<String, u64>::json(
        t.config(),
        ProducerOptions::new().partitioning(Partitioning::Sticky { switch_after: 4 }),
    )
    .unwrap();
    let parts: Vec<i32> = sticky
        .send_batch((0..12).map(|i| ProduceRecord::new(&topic, i)))
        .await
        .into_iter()
        .map(|r| r.unwrap().partition)
        .collect();
    for chunk in parts.chunks(4) {
        assert!(
            chunk.iter().all(|p| *p == chunk[0]),
            "4 records per partition: {parts:?}"
        );
    }
    assert_ne!(parts[0], parts[4], "then it moves on: {parts:?}");

    let explicit = round_robin
        .send(ProduceRecord::new(&topic, 99).partition(2))
        .await
        .unwrap();
    assert_eq!(explicit.partition, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compression_codec_and_acks_setting_round_trips() {
    let t = real();
    let topic = unique("typed-codecs");
    create(&t, &topic, 1).await;
    let settings = [
        ProducerOptions::new().compression(Compression::Gzip),
        ProducerOptions::new().compression(Compression::Snappy),
        ProducerOptions::new().compression(Compression::Lz4),
        ProducerOptions::new().compression(Compression::Zstd),
        ProducerOptions::new().idempotence(false).acks(Acks::Leader),
    ];
    for (i, options) in settings.into_iter().enumerate() {
        let producer = TypedProducer::<String, Order>::json(t.config(), options).unwrap();
        let reports = producer
            .send_batch((0..10).map(|j| ProduceRecord::new(&topic, order(i as u64 * 10 + j))))
            .await;
        assert!(reports.iter().all(Result::is_ok), "setting {i}: {reports:?}");
    }
    let read = read_full(&t, &topic, 50, Duration::from_secs(30));
    let ids: BTreeSet<u64> = read
        .iter()
        .map(|r| serde_json::from_slice::<Order>(r.bytes.as_ref().unwrap()).unwrap().id)
        .collect();
    assert_eq!(ids, (0..50).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_topic_is_an_error_naming_it_and_nothing_is_sent() {
    let t = real();
    let missing = unique("typed-missing");
    let producer = TypedProducer::<String, u64>::json(t.config(), ProducerOptions::new()).unwrap();
    let err = producer.send(ProduceRecord::new(&missing, 1)).await.unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    let batch = producer
        .send_batch([ProduceRecord::new(&missing, 1), ProduceRecord::new(&missing, 2)])
        .await;
    assert!(batch.iter().all(Result::is_err));
}

#[test]
fn contradictory_options_fail_at_creation_naming_the_key() {
    let config = kflow_kafka::KafkaConfig::new("127.0.0.1:1");
    let err = TypedProducer::<String, u64>::json(&config, ProducerOptions::new().acks(Acks::None))
        .err()
        .unwrap();
    assert!(err.to_string().contains("`acks`"), "{err}");
    let err = TypedProducer::<String, u64>::json(&config, ProducerOptions::new().property("linger.ms", "not-a-number"))
        .err()
        .unwrap();
    assert!(err.to_string().contains("linger.ms"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_keys_and_values_use_kafkas_big_endian_layout() {
    let t = real();
    let topic = unique("typed-int");
    create(&t, &topic, 3).await;
    let producer = TypedProducer::<i64, u32>::new(
        t.config(),
        ProducerOptions::new(),
        kflow_core::codec::BigEndian,
        kflow_core::codec::BigEndian,
    )
    .unwrap();
    let at = producer
        .send(ProduceRecord::new(&topic, 258u32).key(7i64))
        .await
        .unwrap();
    let key_bytes = 7i64.to_be_bytes();
    assert_eq!(
        at.partition,
        partition_for_key(&key_bytes, 3),
        "the partition of Kafka's LongSerializer key"
    );
    let read = read_full(&t, &topic, 1, Duration::from_secs(20));
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].key.as_deref().map(str::as_bytes), Some(&key_bytes[..]));
    assert_eq!(
        read[0].bytes.as_deref(),
        Some(&[0u8, 0, 1, 2][..]),
        "IntegerSerializer's layout"
    );
}
