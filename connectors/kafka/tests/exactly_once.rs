//! Transactions and exactly-once processors, against the real broker (tansu).
//!
//! Neither test broker hides aborted records: tansu's `read_committed` still returns
//! them, and librdkafka's mock cluster ignores `EndTxn` and `TxnOffsetCommit`
//! altogether. So the crash test checks what exactly-once needs from kflow: the restart
//! resumes exactly at the last committed transaction, and the only outputs seen twice
//! are those of the transaction that was open when the first run died (which a broker
//! aborts).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kflow_core::{App, Flow, Offset, Processor, TopicPartition};
use kflow_kafka::{KafkaTransport, ProduceRecord, ProducerOptions, TypedProducer};
use rdkafka::consumer::{BaseConsumer, Consumer};

fn tag(f: Flow<u64>) -> Flow<u64> {
    f.map(|v| v + 1_000_000)
}

fn transactional(t: &KafkaTransport, id: &str) -> TypedProducer<String, u64> {
    TypedProducer::json(t.config(), ProducerOptions::new().transactional_id(id)).unwrap()
}

/// Group metadata for `group`, from a consumer that joined nothing (enough to commit
/// offsets through a transaction).
fn group_metadata(t: &KafkaTransport, group: &str) -> rdkafka::consumer::ConsumerGroupMetadata {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", t.config().brokers())
        .set("group.id", group)
        .create()
        .unwrap();
    consumer.group_metadata().expect("group metadata")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_transaction_delivers_its_records_and_offsets_together() {
    let t = real();
    let (topic, input) = (unique("txn-out"), unique("txn-in"));
    create(&t, &topic, 2).await;
    create(&t, &input, 1).await;
    let group = unique("txn-group");
    let producer = transactional(&t, &unique("txn-id"));
    producer.begin_transaction().unwrap();
    let sent = producer
        .send_batch((0..10).map(|i| ProduceRecord::new(&topic, i).key(format!("k{i}"))))
        .await;
    assert!(sent.iter().all(Result::is_ok), "{sent:?}");
    producer
        .send_offsets_to_transaction(
            &[(TopicPartition::new(input.as_str(), 0), Offset(7))],
            group_metadata(&t, &group),
        )
        .await
        .unwrap();
    producer.commit_transaction().await.unwrap();

    let read = read(&t, &topic, 10, Duration::from_secs(20));
    let mut values: Vec<u64> = read.iter().map(|r| r.3.parse().unwrap()).collect();
    values.sort();
    assert_eq!(values, (0..10).collect::<Vec<_>>());
    assert_eq!(
        committed(&t, &group, &input, 1).await[&0],
        Some(7),
        "offsets committed with it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_transaction_commits_no_offsets_and_the_next_one_goes_on() {
    let t = real();
    let (topic, input) = (unique("txn-abort"), unique("txn-abort-in"));
    create(&t, &topic, 1).await;
    create(&t, &input, 1).await;
    let group = unique("txn-abort-group");
    let producer = transactional(&t, &unique("txn-id"));
    producer.begin_transaction().unwrap();
    producer.send(ProduceRecord::new(&topic, 1)).await.unwrap();
    let at = [(TopicPartition::new(input.as_str(), 0), Offset(3))];
    producer
        .send_offsets_to_transaction(&at, group_metadata(&t, &group))
        .await
        .unwrap();
    producer.abort_transaction().await.unwrap();
    assert_eq!(
        committed(&t, &group, &input, 1).await[&0],
        None,
        "aborted offsets are not committed"
    );

    producer.begin_transaction().unwrap();
    producer.send(ProduceRecord::new(&topic, 2)).await.unwrap();
    let at = [(TopicPartition::new(input.as_str(), 0), Offset(5))];
    producer
        .send_offsets_to_transaction(&at, group_metadata(&t, &group))
        .await
        .unwrap();
    producer.commit_transaction().await.unwrap();
    assert_eq!(committed(&t, &group, &input, 1).await[&0], Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_calls_on_a_plain_producer_say_what_is_missing() {
    let t = real();
    let producer = TypedProducer::<String, u64>::json(t.config(), ProducerOptions::new()).unwrap();
    let err = producer.begin_transaction().unwrap_err();
    assert!(err.to_string().contains("transactional_id"), "{err}");
}

/// An exactly-once app reading `input` and writing `output`.
fn eos_app(t: &KafkaTransport, app_id: &str, input: &str, output: &str) -> App {
    App::new(app_id)
        .transport(t.clone())
        .instance_id("node-1")
        .commit_interval(Duration::from_millis(100))
        .processor(props(
            Processor::new("p", tag).input([input]).output(output).exactly_once(),
        ))
}

/// Counts each output value as a `read_committed` consumer sees it.
fn counts(t: &KafkaTransport, output: &str) -> BTreeMap<u64, usize> {
    tally(&read(t, output, usize::MAX, Duration::from_secs(3)))
}

/// How often each value occurs in what was read.
fn tally(read: &[(i32, i64, Option<String>, String)]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for r in read {
        *counts.entry(r.3.parse::<u64>().unwrap()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exactly_once_run_killed_mid_way_and_restarted_writes_every_output_once() {
    let t = real();
    let (input, output) = (unique("eos-in"), unique("eos-out"));
    create(&t, &input, 3).await;
    create(&t, &output, 3).await;
    produce(&t, &input, numbers(0..3_000)).await;
    let app_id = unique("eos-app");
    let group = format!("{app_id}-p");
    let first = eos_app(&t, &app_id, &input, &output).start().await.unwrap();
    let reached = eventually(Duration::from_secs(60), || {
        read(&t, &output, 500, Duration::from_millis(200)).len() >= 500
    })
    .await;
    assert!(reached, "the first run committed some transactions");
    first.abort();
    // What the first run committed: outputs of inputs before these offsets are in its
    // committed transactions; anything it wrote after them was in the open one.
    let at_kill = committed(&t, &group, &input, 3).await;
    assert!(
        at_kill.values().map(|o| o.unwrap_or(0)).sum::<i64>() > 0,
        "the first run committed offsets through its transactions: {at_kill:?}"
    );
    produce(&t, &input, numbers(3_000..3_500)).await;
    let second = eos_app(&t, &app_id, &input, &output).start().await.unwrap();
    read_until(&t, &output, Duration::from_secs(90), |out| tally(out).len() >= 3_500);
    second.shutdown().await.unwrap();
    let seen = counts(&t, &output);
    let missing: Vec<u64> = (0..3_500).filter(|v| !seen.contains_key(&(v + 1_000_000))).collect();
    assert!(
        missing.is_empty(),
        "{} outputs missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let offsets = committed(&t, &group, &input, 3).await;
    assert_eq!(offsets.values().map(|o| o.unwrap_or(0)).sum::<i64>(), 3_500);

    // Where each input sits, to tell committed-transaction outputs from open-transaction ones.
    let position: BTreeMap<u64, (i32, i64)> = read(&t, &input, 3_500, Duration::from_secs(30))
        .into_iter()
        .map(|r| (r.3.parse::<u64>().unwrap(), (r.0, r.1)))
        .collect();
    for (value, n) in &seen {
        let (partition, offset) = position[&(value - 1_000_000)];
        let committed_before = at_kill[&partition].unwrap_or(0);
        if offset < committed_before {
            assert_eq!(
                *n, 1,
                "input {partition}/{offset} was in a committed transaction: its output once"
            );
        } else {
            assert!(
                *n <= 2,
                "input {partition}/{offset}: at most once more, from the aborted transaction"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exactly_once_processor_commits_outputs_and_offsets_on_the_real_broker() {
    let t = real();
    let (input, output) = (unique("eos-real-in"), unique("eos-real-out"));
    create(&t, &input, 2).await;
    create(&t, &output, 2).await;
    produce(&t, &input, numbers(0..1_000)).await;
    let app_id = unique("eos-real");
    let app = eos_app(&t, &app_id, &input, &output).start().await.unwrap();
    let group = format!("{app_id}-p");
    assert!(
        committed_reaches(&t, &group, &input, 2, 1_000, Duration::from_secs(60)).await,
        "every input offset committed through transactions"
    );
    app.shutdown().await.unwrap();
    let seen = counts(&t, &output);
    assert_eq!(seen.len(), 1_000);
    assert!(seen.values().all(|n| *n == 1), "each output once");
}
