//! Helpers shared by the Kafka benchmarks (`kafka_e2e`, `suite`).

use kflow::kafka::KafkaTransport;
use kflow::transport::Transport;
use kflow::TopicPartition;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

/// Partitions of every benchmark topic.
pub const PARTITIONS: i32 = 4;

/// A topic or group name no earlier run used.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("bench-{prefix}-{nanos}")
}

/// The sum of `group`'s committed offsets over `topic`'s partitions (0 when unknown).
pub async fn committed_total(t: &KafkaTransport, group: &str, topic: &str) -> i64 {
    let tps = (0..PARTITIONS).map(|p| TopicPartition::new(topic, p)).collect();
    t.admin()
        .committed(group, tps)
        .await
        .map_or(0, |v| v.iter().filter_map(|(_, o)| o.map(|o| o.0)).sum())
}

/// The hand-written loops' consumer: manual commits from the beginning, a short session
/// (tansu holds each join for half of it), subscribed to `input`.
pub fn hand_consumer(brokers: &str, group: &str, input: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&[input]).unwrap();
    consumer
}
