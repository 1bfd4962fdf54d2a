//! Per-topic state of a typed producer: the topic was checked, its partition count, and
//! where round-robin or sticky placement stands.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kflow_core::{Error, Result};
use rdkafka::producer::{FutureProducer, Producer as _};

use super::options::Partitioning;

/// How long a topic's partition count is trusted before it is looked up again.
const METADATA_TTL: Duration = Duration::from_secs(60);

struct TopicState {
    partitions: i32,
    checked: Instant,
    next: i32,
    sent: u32,
}

/// Chooses partitions for records that did not name one.
pub(crate) struct Placement {
    strategy: Partitioning,
    topics: Mutex<HashMap<String, TopicState>>,
    timeout: Duration,
}

impl Placement {
    pub(crate) fn new(strategy: Partitioning, timeout: Duration) -> Self {
        Placement {
            strategy,
            topics: Mutex::default(),
            timeout,
        }
    }

    /// Checks (once per [`METADATA_TTL`]) that `topic` exists; an error names it.
    pub(crate) async fn check(&self, producer: &FutureProducer, topic: &str) -> Result<()> {
        let fresh = self
            .topics
            .lock()
            .unwrap()
            .get(topic)
            .is_some_and(|t| t.checked.elapsed() < METADATA_TTL);
        if fresh {
            return Ok(());
        }
        let (p, name, timeout) = (producer.clone(), topic.to_string(), self.timeout);
        let partitions = tokio::task::spawn_blocking(move || partition_count(&p, &name, timeout))
            .await
            .map_err(|e| Error::transport("typed producer", "a blocking call did not finish").caused_by(e))??;
        let mut topics = self.topics.lock().unwrap();
        let state = topics.entry(topic.to_string()).or_insert(TopicState {
            partitions,
            checked: Instant::now(),
            next: fastrand::i32(0..partitions),
            sent: 0,
        });
        state.partitions = partitions;
        state.checked = Instant::now();
        Ok(())
    }

    /// The partition for the next record to `topic` (checked before), or `None` to let
    /// the key hash decide.
    pub(crate) fn next(&self, topic: &str) -> Option<i32> {
        let switch_after = match self.strategy {
            Partitioning::KeyHash => return None,
            Partitioning::RoundRobin => 1,
            Partitioning::Sticky { switch_after } => switch_after,
        };
        let mut topics = self.topics.lock().unwrap();
        let state = topics.get_mut(topic)?;
        if state.sent >= switch_after {
            state.sent = 0;
            state.next = (state.next + 1) % state.partitions;
        }
        state.sent += 1;
        Some(state.next % state.partitions)
    }
}

fn partition_count(producer: &FutureProducer, topic: &str, timeout: Duration) -> Result<i32> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| Error::topic(topic.to_string(), format!("cannot read its metadata: {e}")))?;
    match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(t.partitions().len() as i32),
        _ => Err(Error::topic(
            topic.to_string(),
            "does not exist (create it first, e.g. `kflow topics create`)",
        )),
    }
}
