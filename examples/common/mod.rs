//! What the examples share: where Kafka is, logs, topics and sample input.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use kflow::kafka::{KafkaConfig, KafkaTransport, ProduceRecord, ProducerOptions, TopicSettings, TypedProducer};
use serde::Serialize;

/// Kafka from `--brokers host:port`, else from `KAFKA_BROKERS`, else (the examples opt
/// in to it) the embedded broker.
pub fn transport() -> kflow::Result<KafkaTransport> {
    let args: Vec<String> = std::env::args().collect();
    let flag = args.iter().position(|a| a == "--brokers").and_then(|i| args.get(i + 1));
    let transport = match flag {
        Some(brokers) => KafkaTransport::connect(KafkaConfig::new(brokers))?,
        None => KafkaTransport::from_env_or_embedded()?,
    };
    println!("running on {}", transport.describe());
    Ok(transport)
}

/// Logs errors to stderr (`RUST_LOG=kflow_core=info` shows assignments, dead letters, ...).
pub fn logs() {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "kflow=info,kflow_core=error".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Creates `topic` with `partitions` partitions unless it exists.
pub async fn topic(t: &KafkaTransport, topic: &str, partitions: i32) -> kflow::Result<()> {
    let settings = TopicSettings::new().partitions(partitions);
    t.kafka_admin().create_topics(&[settings.topic(topic)]).await?;
    Ok(())
}

/// Writes `(key, value, timestamp)` records as JSON to `topic` and waits until the broker
/// acknowledged them all.
pub async fn produce<T: Serialize + 'static>(
    t: &KafkaTransport,
    topic: &str,
    records: impl IntoIterator<Item = (String, T, i64)>,
) -> kflow::Result<usize> {
    let producer = TypedProducer::<String, T>::json(t.config(), ProducerOptions::new())?;
    let sent = producer
        .send_batch(
            records
                .into_iter()
                .map(|(key, value, ts)| ProduceRecord::new(topic, value).key(key).timestamp(ts)),
        )
        .await;
    let n = sent.len();
    sent.into_iter().collect::<kflow::Result<Vec<_>>>()?;
    Ok(n)
}

/// Writes `(key, value bytes)` records to `topic` as they are (for malformed input).
pub async fn produce_raw(t: &KafkaTransport, topic: &str, records: &[(&str, &[u8])]) -> kflow::Result<()> {
    let producer = TypedProducer::raw(t.config(), ProducerOptions::new())?;
    for (key, value) in records {
        let record =
            ProduceRecord::new(topic, Bytes::copy_from_slice(value)).key(Bytes::copy_from_slice(key.as_bytes()));
        producer.send(record).await?;
    }
    Ok(())
}

/// Waits until `done` holds, at most `within`; returns whether it held.
pub async fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Event times start here (a whole minute); Kafka clients read a timestamp of 0 as "now".
pub const BASE: i64 = 1_700_000_040_000;
