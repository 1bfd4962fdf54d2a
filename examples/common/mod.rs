//! What the examples share: where Kafka is, logs, topics and sample input.
#![allow(dead_code)]

use std::time::Duration;

use kflow::ack::Ack;
use kflow::kafka::{KafkaConfig, KafkaTransport};
use kflow::transport::{NewTopic, OutRecord, Transport};
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
    let admin = t.admin();
    if admin.describe_topic(topic).await?.is_none() {
        admin.create_topic(NewTopic::new(topic, partitions)).await?;
    }
    Ok(())
}

/// Writes `(key, value, timestamp)` records as JSON to `topic` and waits until written.
pub async fn produce<T: Serialize>(
    t: &KafkaTransport,
    topic: &str,
    records: impl IntoIterator<Item = (String, T, i64)>,
) -> kflow::Result<usize> {
    let producer = t.producer()?;
    let mut n = 0;
    for (key, value, ts) in records {
        let bytes = serde_json::to_vec(&value).expect("json");
        producer
            .send(
                OutRecord::new(topic, bytes).with_key(key).with_timestamp(ts),
                Ack::none(),
            )
            .await?;
        n += 1;
    }
    producer.flush(Duration::from_secs(10)).await?;
    Ok(n)
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
