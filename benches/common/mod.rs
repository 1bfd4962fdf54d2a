//! Helpers shared by the Kafka benchmarks (`kafka_e2e`, `suite`, `state`).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, TopicPartitionList};

/// Partitions of every benchmark topic.
pub const PARTITIONS: i32 = 4;

/// `fetch.queue.backoff.ms` for every librdkafka consumer in the benchmarks (kflow's
/// own default): librdkafka's default of 1 s idles a partition after each large fetch
/// from tansu, which would measure that setting rather than the sides.
pub const FETCH_QUEUE_BACKOFF_MS: &str = "20";

/// A topic or group name no earlier run used.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("bench-{prefix}-{nanos}")
}

/// Reads one group's committed offsets over one topic through a client kept for the whole
/// run, so each look takes one round trip (a fresh client per look takes ~100 ms on tansu,
/// which would blur a run of a second or two).
pub struct CommitWatch {
    consumer: Arc<BaseConsumer>,
    topic: String,
}

impl CommitWatch {
    /// Watches `group` on `topic` at `brokers`.
    pub fn new(brokers: &str, group: &str, topic: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        Self {
            consumer: Arc::new(consumer),
            topic: topic.to_string(),
        }
    }

    /// The sum of the committed offsets over the topic's partitions (0 when unknown).
    pub async fn total(&self) -> i64 {
        let (consumer, topic) = (self.consumer.clone(), self.topic.clone());
        tokio::task::spawn_blocking(move || {
            let mut tpl = TopicPartitionList::new();
            for p in 0..PARTITIONS {
                tpl.add_partition(&topic, p);
            }
            consumer
                .committed_offsets(tpl, Duration::from_secs(10))
                .map_or(0, |got| {
                    got.elements()
                        .iter()
                        .filter_map(|e| e.offset().to_raw())
                        .filter(|o| *o >= 0)
                        .sum()
                })
        })
        .await
        .unwrap_or(0)
    }
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
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .create()
        .unwrap();
    consumer.subscribe(&[input]).unwrap();
    consumer
}
