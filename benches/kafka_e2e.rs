//! End-to-end throughput on a Kafka-protocol broker: consume → filter → map → produce →
//! commit, through kflow and through a hand-written rdkafka loop, on the same broker and
//! the same generated input, in the same run.
//!
//! `cargo bench --bench kafka_e2e` uses the embedded broker (librdkafka's mock cluster);
//! set `KFLOW_BENCH_BROKERS=127.0.0.1:PORT` to use another one. `KFLOW_BENCH_RECORDS`
//! sets the record count (default 200 000). Each side first processes one warm-up record
//! (so group joins are not timed); then the clock runs from writing N records until every
//! one of them is committed, after its output was acknowledged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

mod common;

use common::{hand_consumer, unique, CommitWatch, PARTITIONS};
use kflow::kafka::{KafkaConfig, KafkaTransport};
use kflow::plumbing::ack::Ack;
use kflow::plumbing::transport::{NewTopic, OutRecord, Transport};
use kflow::prelude::*;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use rdkafka::{ClientConfig, Message, TopicPartitionList};

fn pipeline(numbers: Flow<u64>) -> Flow<u64> {
    numbers.filter(|n| n % 2 == 0).map(|n| n * 3)
}

async fn write(t: &KafkaTransport, topic: &str, range: std::ops::Range<u64>) {
    let producer = t.producer().unwrap();
    for n in range {
        producer
            .send(
                OutRecord::new(topic, n.to_string()).with_key(n.to_be_bytes().to_vec()),
                Ack::none(),
            )
            .await
            .unwrap();
    }
    producer.flush(Duration::from_secs(60)).await.unwrap();
}

async fn wait_committed(t: &KafkaTransport, group: &str, topic: &str, want: i64, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let watch = CommitWatch::new(t.config().brokers(), group, topic);
    while Instant::now() < deadline {
        if watch.total().await >= want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// kflow: a processor with the pipeline above.
async fn run_kflow(t: &KafkaTransport, n: u64) -> f64 {
    let (input, output, app_id) = (unique("in"), unique("out"), unique("kflow"));
    t.admin().create_topic(NewTopic::new(&input, PARTITIONS)).await.unwrap();
    let handle = App::new(&app_id)
        .transport(t.clone())
        .commit_interval(Duration::from_millis(50))
        .processor(Processor::new("p", pipeline).input([input.as_str()]).output(&output))
        .start()
        .await
        .unwrap();
    let group = format!("{app_id}-p");
    write(t, &input, 0..1).await;
    assert!(
        wait_committed(t, &group, &input, 1, Duration::from_secs(60)).await,
        "kflow warm-up"
    );
    let started = Instant::now();
    write(t, &input, 1..n + 1).await;
    assert!(
        wait_committed(t, &group, &input, n as i64 + 1, Duration::from_secs(600)).await,
        "kflow finished"
    );
    let rate = n as f64 / started.elapsed().as_secs_f64();
    handle.shutdown().await.unwrap();
    rate
}

/// The hand-written at-least-once loop: poll, decode, filter, map, encode, send; commit
/// each partition's next offset once the sends before it were delivered (checked every
/// 50 ms by flushing).
fn hand_loop(brokers: &str, input: &str, output: &str, group: &str, want: i64) {
    let consumer = hand_consumer(brokers, group, input);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut done = 0i64;
    let mut last_commit = Instant::now();
    while done < want {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(10)) {
            let n: u64 = std::str::from_utf8(m.payload().unwrap()).unwrap().parse().unwrap();
            if n % 2 == 0 {
                let value = (n * 3).to_string();
                let mut record = BaseRecord::to(output).payload(&value).key(m.key().unwrap());
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((_, back)) => {
                            record = back;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
            }
            next.insert(m.partition(), m.offset() + 1);
        }
        if last_commit.elapsed() > Duration::from_millis(50) && !next.is_empty() {
            producer.flush(Duration::from_secs(30)).unwrap();
            let mut tpl = TopicPartitionList::new();
            for (p, o) in &next {
                tpl.add_partition_offset(input, *p, rdkafka::Offset::Offset(*o))
                    .unwrap();
            }
            consumer.commit(&tpl, CommitMode::Sync).unwrap();
            done = next.values().sum();
            last_commit = Instant::now();
        }
    }
}

async fn run_hand(t: &KafkaTransport, n: u64) -> f64 {
    let (input, output, group) = (unique("in"), unique("out"), unique("hand"));
    t.admin().create_topic(NewTopic::new(&input, PARTITIONS)).await.unwrap();
    t.admin()
        .create_topic(NewTopic::new(&output, PARTITIONS))
        .await
        .unwrap();
    let brokers = t.config().brokers().to_string();
    let (i, o, g) = (input.clone(), output.clone(), group.clone());
    let worker = std::thread::spawn(move || hand_loop(&brokers, &i, &o, &g, n as i64 + 1));
    write(t, &input, 0..1).await;
    assert!(
        wait_committed(t, &group, &input, 1, Duration::from_secs(60)).await,
        "hand warm-up"
    );
    let started = Instant::now();
    write(t, &input, 1..n + 1).await;
    assert!(
        wait_committed(t, &group, &input, n as i64 + 1, Duration::from_secs(600)).await,
        "hand finished"
    );
    let rate = n as f64 / started.elapsed().as_secs_f64();
    worker.join().unwrap();
    rate
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs benches once in test mode: nothing to time there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: u64 = std::env::var("KFLOW_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let t = match std::env::var("KFLOW_BENCH_BROKERS") {
        Ok(b) => KafkaTransport::connect(KafkaConfig::new(&b)).unwrap(),
        Err(_) => KafkaTransport::embedded().unwrap(),
    };
    println!(
        "broker: {}; {n} records, {PARTITIONS} partitions, filter → map → produce → commit",
        t.describe()
    );
    // KFLOW_BENCH_SIDE=kflow|hand runs one side only (for profiling).
    let side = std::env::var("KFLOW_BENCH_SIDE").unwrap_or_default();
    let (mut kflow, mut hand) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        hand.push(if side == "kflow" {
            f64::NAN
        } else {
            run_hand(&t, n).await
        });
        kflow.push(if side == "hand" {
            f64::NAN
        } else {
            run_kflow(&t, n).await
        });
    }
    kflow.sort_by(f64::total_cmp);
    hand.sort_by(f64::total_cmp);
    let (k, h) = (kflow[1], hand[1]);
    println!("\n{:<22} {:>12}", "", "msgs/s");
    println!("{:<22} {:>12.0}", "hand-written rdkafka", h);
    println!("{:<22} {:>12.0}", "kflow", k);
    println!("{:<22} {:>12.2}", "ratio kflow / hand", k / h);
}
