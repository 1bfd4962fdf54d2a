//! Transactions and exactly-once processors, against the real broker (tansu).
//!
//! Neither test broker hides aborted records: tansu's `read_committed` still returns
//! them, and librdkafka's mock cluster ignores `EndTxn` and `TxnOffsetCommit`
//! altogether. The crash test (an exactly-once processor killed with SIGKILL as a child
//! process) is in `crash/tests/kill.rs`.

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

/// A seek of a running exactly-once processor: the new position commits in a
/// transaction (sent back, so the group's offset goes down), the records from there are
/// handled again, and their outputs and offsets commit together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_exactly_once_processor_is_sent_back_and_commits_through_transactions() {
    let t = real();
    let (input, output) = (unique("eos-seek-in"), unique("eos-seek-out"));
    create(&t, &input, 1).await;
    create(&t, &output, 1).await;
    produce(&t, &input, numbers(0..100)).await;
    let app_id = unique("eos-seek");
    let app = eos_app(&t, &app_id, &input, &output).start().await.unwrap();
    let group = format!("{app_id}-p");
    assert!(committed_reaches(&t, &group, &input, 1, 100, Duration::from_secs(60)).await);
    let moved = app
        .context()
        .seek("p", &input, Some(0), kflow_core::transport::SeekTo::Offset(Offset(90)))
        .await
        .expect("the seek");
    assert_eq!((moved[0].from, moved[0].to), (Some(100), 90), "{moved:?}");
    // Until the records from offset 90 were handled again and their transaction committed.
    let again = eventually(Duration::from_secs(60), || {
        counts(&t, &output).values().sum::<usize>() >= 110
    })
    .await;
    assert!(again, "the ten records from offset 90 come out again");
    assert!(
        committed_reaches(&t, &group, &input, 1, 100, Duration::from_secs(30)).await,
        "committed to the end again"
    );
    app.shutdown().await.unwrap();
    let seen = counts(&t, &output);
    assert_eq!(seen.len(), 100, "every output");
    let twice: Vec<u64> = seen.iter().filter(|(_, n)| **n == 2).map(|(v, _)| *v).collect();
    assert_eq!(
        twice,
        (1_000_090..1_000_100).collect::<Vec<u64>>(),
        "offsets 90 to 99 again, once more each"
    );
    assert!(seen.values().all(|n| *n <= 2));
}
