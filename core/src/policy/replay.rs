//! Republishing dead-letter records to the topics they came from.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::stream::{SelectAll, StreamExt};

use super::headers::{names, replay_target, user_headers};
use crate::error::{Error, Result};
use crate::event::tracked;
use crate::record::{Headers, RawRecord};
use crate::transport::{ConsumerConfig, GroupEvent, OutRecord, StartFrom, Transport};

/// Reads a dead-letter topic and writes each record back to its original topic (from the
/// `kflow.original.topic` header, or Spring's `kafka_dlt-original-topic`), with its key,
/// value, original timestamp and the user's headers (kflow's and Spring's failure headers
/// are dropped). It reads as a consumer group and commits what it replayed, so a second
/// run goes on where the first stopped. It stops once no record arrived for the idle
/// timeout, or after `max_records`. Records dead-lettered after the replay started (by
/// kflow's `kflow.failure.last` header), such as replayed records that failed again, are
/// left for the next replay, so a record that keeps failing does not loop.
///
/// ```no_run
/// # async fn demo(transport: std::sync::Arc<dyn kflow_core::transport::Transport>) -> kflow_core::Result<()> {
/// use kflow_core::policy::Replay;
/// let report = Replay::new("orders.dlq").run(&*transport).await?;
/// println!("replayed {} records", report.replayed);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Replay {
    topic: String,
    group: String,
    idle: Duration,
    assignment_timeout: Duration,
    max_records: Option<u64>,
    properties: Vec<(String, String)>,
}

/// What a [`Replay`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records written back.
    pub replayed: u64,
    /// Records written back, per destination topic.
    pub by_topic: BTreeMap<String, u64>,
}

impl Replay {
    /// Replays `dead_letter_topic` as group `kflow-replay-<topic>`, stopping after 5 s
    /// without records.
    pub fn new(dead_letter_topic: &str) -> Self {
        Replay {
            topic: dead_letter_topic.to_string(),
            group: format!("kflow-replay-{dead_letter_topic}"),
            idle: Duration::from_secs(5),
            assignment_timeout: Duration::from_secs(60),
            max_records: None,
            properties: Vec::new(),
        }
    }

    /// The consumer group that tracks what was replayed.
    pub fn group_id(mut self, group: &str) -> Self {
        self.group = group.to_string();
        self
    }

    /// Stops once no record arrived for this long (default 5 s).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Stops after this many records.
    pub fn max_records(mut self, n: u64) -> Self {
        self.max_records = Some(n);
        self
    }

    /// Passes a consumer property through (a librdkafka key for Kafka).
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs the replay; an error if a record names no original topic or a write failed
    /// (nothing past that record is committed).
    pub async fn run(self, transport: &dyn Transport) -> Result<ReplayReport> {
        let mut consumer = transport.consumer(ConsumerConfig {
            client_id: format!("{}-replay", self.group),
            start: StartFrom::Earliest,
            properties: self.properties.clone(),
            ..ConsumerConfig::new(self.group.clone())
        })?;
        consumer.subscribe(std::slice::from_ref(&self.topic))?;
        tracing::debug!(topic = %self.topic, group = %self.group, "replay: subscribed");
        let producer = transport.producer()?;
        let committer = consumer.committer();
        let mut trackers = Vec::new();
        let mut records = SelectAll::new();
        let mut report = ReplayReport::default();
        let mut outcome = Ok(());
        let started = super::failure::now_ms();
        while self.max_records.is_none_or(|max| report.replayed < max) {
            let wait = if trackers.is_empty() {
                self.assignment_timeout
            } else {
                self.idle
            };
            tokio::select! {
                event = consumer.next_event() => match event? {
                    GroupEvent::Assigned(parts) => {
                        tracing::debug!(topic = %self.topic, partitions = parts.len(), "replay: assigned");
                        for part in parts {
                            let (handle, stream) = tracked(part.partition, part.records, metrics::Counter::noop(), ());
                            trackers.push(handle);
                            records.push(stream);
                        }
                    }
                    GroupEvent::Revoked { done, .. } => {
                        producer.flush(Duration::from_secs(30)).await?;
                        commit(&trackers, &*committer).await?;
                        trackers.clear();
                        done.done();
                    }
                },
                Some(msg) = records.next(), if !records.is_empty() => {
                    let m = &msg.record.meta;
                    let tracker = trackers
                        .iter()
                        .find(|t| *t.partition().topic == *m.topic && t.partition().partition == m.partition);
                    if tracker.is_some_and(|t| t.is_frozen()) {
                        drop(msg); // its partition is done: this ack no longer counts
                        continue;
                    }
                    if failed_since(&msg.record.headers, started) {
                        // Dead-lettered after this replay started (maybe a replayed record
                        // that failed again): it and what follows wait for the next replay.
                        if let Some(t) = tracker {
                            t.seal();
                        }
                        drop(msg);
                        if trackers.iter().all(|t| t.is_frozen()) {
                            break;
                        }
                        continue;
                    }
                    let target = match replay_target(&msg.record.headers) {
                        Some(t) => t,
                        None => {
                            let m = &msg.record.meta;
                            outcome = Err(Error::topic(
                                self.topic.clone(),
                                format!(
                                    "dead-letter record {}-{}@{} has no `{}` or `{}` header: cannot tell where to replay it",
                                    m.topic, m.partition, m.offset, names::ORIGINAL_TOPIC, names::spring::ORIGINAL_TOPIC
                                ),
                            ));
                            msg.ack.fail("no original topic");
                            break;
                        }
                    };
                    let out = replayed(&target, msg.record);
                    producer.send(out, msg.ack).await?;
                    report.replayed += 1;
                    *report.by_topic.entry(target).or_default() += 1;
                }
                _ = tokio::time::sleep(wait) => {
                    if trackers.is_empty() {
                        outcome = Err(Error::transport(
                            format!("replay group `{}`", self.group),
                            format!("no partition of `{}` was assigned within {:?}", self.topic, self.assignment_timeout),
                        ));
                    }
                    break;
                }
            }
        }
        drop(records);
        producer.flush(Duration::from_secs(30)).await?;
        let committed = commit(&trackers, &*committer).await;
        consumer.close().await;
        outcome.and(committed).map(|()| report)
    }
}

/// True when kflow's last-failure header says the record failed after `since` (ms).
fn failed_since(headers: &Headers, since: i64) -> bool {
    headers
        .get_str(names::LAST_FAILURE)
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| t > since)
}

/// The record to write back: original key, value, timestamp and user headers.
fn replayed(target: &str, record: RawRecord) -> OutRecord {
    let h = &record.headers;
    let timestamp = h
        .get_str(names::ORIGINAL_TIMESTAMP)
        .and_then(|t| t.parse().ok())
        .or_else(|| {
            let bytes: [u8; 8] = h.get(names::spring::ORIGINAL_TIMESTAMP)?.as_ref().try_into().ok()?;
            Some(i64::from_be_bytes(bytes))
        })
        .unwrap_or(record.meta.timestamp);
    let headers: Headers = user_headers(h);
    OutRecord {
        topic: target.into(),
        partition: None,
        key: record.key,
        value: record.value,
        headers,
        timestamp: Some(timestamp),
    }
}

async fn commit(
    trackers: &[crate::ack::TrackerHandle],
    committer: &dyn crate::transport::OffsetCommitter,
) -> Result<()> {
    let mut offsets = Vec::new();
    for t in trackers {
        if let Some(failure) = t.failure() {
            return Err(Error::produce(t.partition().topic.to_string(), failure));
        }
        if let Some(f) = t.frontier() {
            offsets.push((t.partition().clone(), f));
        }
    }
    if offsets.is_empty() {
        return Ok(());
    }
    committer.commit(offsets).await
}
