//! The transport traits the runtime runs on, and the in-memory transport.
//!
//! A transport provides group consumers ([`Consumer`]), a [`Producer`] whose acks are
//! released by delivery reports, and an [`Admin`]. The Kafka connector implements these
//! on rdkafka; [`memory`] implements them in process for fast tests.

mod backlog;
mod failure;
pub mod memory;
mod partitioner;
mod reader;
mod rejected;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

pub use backlog::Backlog;
pub use failure::FailureSignal;
pub use partitioner::{murmur2, partition_for_key};
pub use reader::PartitionReader;
pub use rejected::{Rejected, Rejection};

use crate::ack::Ack;
use crate::error::Result;
use crate::record::{Headers, Offset, RawRecord, Timestamp, TopicPartition};

/// A record to write.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRecord {
    /// Destination topic.
    pub topic: Arc<str>,
    /// An explicit partition; `None` lets the partitioner choose (murmur2 of the key, as
    /// Kafka's default partitioner; round-robin for null keys).
    pub partition: Option<i32>,
    /// Key bytes.
    pub key: Option<Bytes>,
    /// Value bytes (`None` is a tombstone).
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Headers,
    /// Timestamp; `None` means now.
    pub timestamp: Option<Timestamp>,
}

impl OutRecord {
    /// A record for `topic` (`&str`, `String`, `&String`, ...) with a value and nothing
    /// else set.
    ///
    /// ```
    /// use kflow_core::transport::OutRecord;
    /// let topic = String::from("orders");
    /// let r = OutRecord::new(&topic, "v").with_key("k");
    /// assert_eq!(&*r.topic, "orders");
    /// ```
    pub fn new(topic: impl AsRef<str>, value: impl Into<Bytes>) -> Self {
        OutRecord {
            topic: Arc::from(topic.as_ref()),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Headers::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the timestamp.
    pub fn with_timestamp(mut self, ts: Timestamp) -> Self {
        self.timestamp = Some(ts);
        self
    }

    /// Sets an explicit partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}

/// Writes records. Acknowledgement drives commits: `send` takes the ack of the input the
/// record came from and releases it when the broker acknowledged the write, or fails it
/// (freezing that input partition's commits) when the write failed for good.
pub trait Producer: Send + Sync + 'static {
    /// Queues `record`. The future resolves once the record is accepted into the send
    /// queue (waiting while the queue is full); delivery is reported through `ack`. An
    /// error means the record was not queued; the ack has been failed.
    fn send(&self, record: OutRecord, ack: Ack) -> BoxFuture<'static, Result<()>>;

    /// [`Producer::send`], but a record this producer can never write (too large,
    /// invalid) goes back to `rejected` with its ack instead of failing the ack. The
    /// default treats every error as [`Producer::send`] does.
    fn send_or_reject(
        &self,
        record: OutRecord,
        ack: Ack,
        rejected: &Arc<dyn Rejected>,
    ) -> BoxFuture<'static, Result<()>> {
        let _ = rejected;
        self.send(record, ack)
    }

    /// Waits until every queued record was acknowledged or failed, at most `timeout`.
    fn flush(&self, timeout: Duration) -> BoxFuture<'static, Result<()>>;

    /// Writes `record` and resolves, once it is acknowledged, with the offset it was
    /// written at (state stores' checkpoint markers need it). The default: an error
    /// saying that this producer cannot tell.
    fn send_reporting(&self, record: OutRecord) -> BoxFuture<'static, Result<Offset>> {
        let e = crate::error::Error::produce(record.topic.to_string(), "this producer does not report offsets");
        Box::pin(futures::future::ready(Err(e)))
    }
}

/// How long stopping a partition's work may take by default (see
/// [`ConsumerConfig::drain_timeout`]).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one commit may take by default (see [`ConsumerConfig::commit_timeout`]).
pub const DEFAULT_COMMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a new consumer group starts reading a partition that has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The oldest record still kept.
    #[default]
    Earliest,
    /// Only records written after the group first joined.
    Latest,
}

/// How a group consumer is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The consumer group.
    pub group_id: String,
    /// This member's client id.
    pub client_id: String,
    /// Start position for partitions without a committed offset.
    pub start: StartFrom,
    /// Transport-specific properties, passed through (librdkafka keys for Kafka).
    pub properties: Vec<(String, String)>,
    /// Exactly-once: the transactional id of the producer whose writes commit together
    /// with this consumer's offsets (see [`Consumer::transactions`]).
    pub transactional_id: Option<String>,
    /// Topics read from their earliest offset when the group has no committed offset,
    /// whatever `start` says: kflow's own repartition and retry topics, whose records all
    /// stem from inputs that were already committed.
    pub earliest_topics: Vec<String>,
    /// How long the runtime may take to stop a revoked partition's work and commit it
    /// (the runtime's drain timeout): a transport that holds a rebalance
    /// until then waits this long, plus `commit_timeout`, and no longer.
    pub drain_timeout: Duration,
    /// How long one commit (of offsets, or of a transaction) may take
    /// (the runtime's commit timeout).
    pub commit_timeout: Duration,
}

impl ConsumerConfig {
    /// A config for `group_id` with default settings: client id `kflow`, start from the
    /// earliest offset, no properties, no internal topics, the default timeouts of
    /// the runtime.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerConfig {
            group_id: group_id.into(),
            client_id: "kflow".into(),
            start: StartFrom::Earliest,
            properties: Vec::new(),
            transactional_id: None,
            earliest_topics: Vec::new(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            commit_timeout: DEFAULT_COMMIT_TIMEOUT,
        }
    }

    /// The longest a transport holds a revocation for the runtime: the drain timeout
    /// plus one commit.
    pub fn revoke_wait(&self) -> Duration {
        self.drain_timeout + self.commit_timeout
    }

    /// Where a partition of `topic` without a committed offset starts.
    pub fn start_of(&self, topic: &str) -> StartFrom {
        if self.earliest_topics.iter().any(|t| t == topic) {
            StartFrom::Earliest
        } else {
            self.start
        }
    }
}

/// One assigned partition and its records, in offset order, starting at the committed
/// offset (or the start position). The stream ends when the partition is revoked.
///
/// A partition assigned without a committed offset has its start position committed
/// before any of its records are handed out, so that a restart resumes there (with
/// `StartFrom::Latest`, a restart would otherwise skip what arrived in between).
pub struct AssignedPartition {
    /// The partition.
    pub partition: TopicPartition,
    /// Its records.
    pub records: BoxStream<'static, RawRecord>,
    /// How many fetched records wait for the task.
    pub backlog: Backlog,
}

/// Confirms to the transport that a revocation was handled (work stopped, offsets
/// committed); the rebalance then goes on. Dropping it confirms too.
pub struct RevokeDone(Option<Box<dyn FnOnce() + Send>>);

impl RevokeDone {
    /// Wraps the channel the transport waits on.
    pub fn new(tx: tokio::sync::oneshot::Sender<()>) -> Self {
        Self::from_fn(move || {
            let _ = tx.send(());
        })
    }

    /// Calls `confirm` when done (for a transport that waits on something else, such as a
    /// thread blocked in a rebalance callback).
    pub fn from_fn(confirm: impl FnOnce() + Send + 'static) -> Self {
        RevokeDone(Some(Box::new(confirm)))
    }

    /// Confirms.
    pub fn done(self) {
        // Dropping confirms.
    }
}

impl Drop for RevokeDone {
    fn drop(&mut self) {
        if let Some(confirm) = self.0.take() {
            confirm();
        }
    }
}

/// A change of this member's partitions.
pub enum GroupEvent {
    /// These partitions are now this member's.
    Assigned(Vec<AssignedPartition>),
    /// These partitions are being taken away: stop their work, commit, then call
    /// [`RevokeDone::done`].
    Revoked {
        /// The partitions.
        partitions: Vec<TopicPartition>,
        /// Confirmation to send when done.
        done: RevokeDone,
    },
}

/// The queue a consumer's assignment changes go through: the transport's side sends,
/// [`Consumer::next_event`] receives.
///
/// ```
/// use kflow_core::transport::GroupEvents;
/// let (events, queue) = GroupEvents::new();
/// drop(events); // the transport side went away
/// let mut queue = queue;
/// let next = futures::executor::block_on(queue.next("consumer stopped"));
/// assert!(next.is_err());
/// ```
pub struct GroupEvents(tokio::sync::mpsc::UnboundedReceiver<GroupEvent>);

impl GroupEvents {
    /// A sender for the transport and the receiving queue.
    pub fn new() -> (tokio::sync::mpsc::UnboundedSender<GroupEvent>, GroupEvents) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (tx, GroupEvents(rx))
    }

    /// The next event; a transport error saying `closed` once the sender is gone.
    pub fn next(&mut self, closed: &'static str) -> BoxFuture<'_, Result<GroupEvent>> {
        Box::pin(async move {
            self.0
                .recv()
                .await
                .ok_or_else(|| crate::error::Error::transport("group events", closed))
        })
    }
}

/// Commits a consumer group's offsets: the at-least-once protocol (each offset is the
/// next record to read, and everything before it is done).
pub trait OffsetCommitter: Send + Sync + 'static {
    /// Commits `offsets`.
    fn commit(&self, offsets: Vec<(TopicPartition, Offset)>) -> BoxFuture<'static, Result<()>>;
}

/// Commits a consumer's offsets together with everything its transactional producer
/// wrote since the last commit, in one transaction: the exactly-once protocol.
pub trait TransactionCommitter: Send + Sync + 'static {
    /// Commits the open transaction (its writes and `offsets`) and begins the next.
    fn commit_transaction(&self, offsets: Vec<(TopicPartition, Offset)>) -> BoxFuture<'static, Result<()>>;
    /// Discards the open transaction's writes and begins the next.
    fn abort(&self) -> BoxFuture<'static, Result<()>>;
}

/// A consumer's exactly-once side (see [`ConsumerConfig::transactional_id`]).
pub struct Transactions {
    /// The producer whose writes belong to the open transaction.
    pub producer: Arc<dyn Producer>,
    /// How the transaction commits with the consumer's offsets.
    pub committer: Arc<dyn TransactionCommitter>,
}

/// Where a seek moves a partition (see [`Consumer::position_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTo {
    /// The first offset still in the log.
    Earliest,
    /// The end of the log: only records written from now on.
    Latest,
    /// This offset (an offset before the first one kept means the first one kept).
    Offset(Offset),
    /// The first record whose timestamp is at or after this time (milliseconds since the
    /// epoch); the end of the log when there is none.
    Timestamp(i64),
}

impl std::fmt::Display for SeekTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeekTo::Earliest => f.write_str("earliest"),
            SeekTo::Latest => f.write_str("latest"),
            SeekTo::Offset(o) => write!(f, "offset {}", o.0),
            SeekTo::Timestamp(ms) => write!(f, "timestamp {ms}"),
        }
    }
}

/// A member of a consumer group.
pub trait Consumer: Send + 'static {
    /// Subscribes to topics; assignments follow as [`GroupEvent`]s.
    fn subscribe(&mut self, topics: &[String]) -> Result<()>;
    /// The next assignment change.
    fn next_event(&mut self) -> BoxFuture<'_, Result<GroupEvent>>;
    /// Commits offsets for this member (at-least-once).
    fn committer(&self) -> Arc<dyn OffsetCommitter>;
    /// With [`ConsumerConfig::transactional_id`]: the producer and committer of this
    /// member's transactions. `None`: this transport has no transactions.
    fn transactions(&self) -> Option<Transactions> {
        None
    }
    /// The offset `to` points at in `partition`, for seeking a running unit: an offset
    /// is limited to the partition's first kept offset and its end, as the broker reports
    /// them. The default: an error saying that this transport cannot seek.
    fn position_of(&self, partition: &TopicPartition, to: SeekTo) -> BoxFuture<'static, Result<Offset>> {
        let _ = to;
        Box::pin(futures::future::ready(Err(cannot_seek(partition))))
    }
    /// Hands out the records of partitions this member holds again, each from the given
    /// offset (`None`: from the group's committed offset), as new streams; their old
    /// streams must have been dropped (their tasks stopped). Partitions revoked meanwhile
    /// are left out (a revocation for them follows or came first). A seek of a running
    /// unit stops the partitions' tasks, commits the new positions, then calls this. The
    /// default: an error saying that this transport cannot seek.
    fn restart(
        &mut self,
        positions: Vec<(TopicPartition, Option<Offset>)>,
    ) -> BoxFuture<'_, Result<Vec<AssignedPartition>>> {
        let e = match positions.first() {
            Some((tp, _)) => cannot_seek(tp),
            None => crate::error::Error::transport("consumer", "nothing to restart"),
        };
        Box::pin(futures::future::ready(Err(e)))
    }
    /// Leaves the group.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

fn cannot_seek(partition: &TopicPartition) -> crate::error::Error {
    crate::error::Error::transport(format!("consumer of {partition}"), "this transport cannot seek")
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replication factor (ignored in memory).
    pub replication: i16,
    /// Topic configs (`retention.ms`, `cleanup.policy`, ...).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions, replication 1 and no configs.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            replication: 1,
            configs: Vec::new(),
        }
    }
}

/// What the broker says about a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
}

/// Committed offsets per partition (`None` where the group has none).
pub type CommittedOffsets = Vec<(TopicPartition, Option<Offset>)>;

/// Topic and group administration.
pub trait Admin: Send + Sync + 'static {
    /// Creates a topic; an error (naming the topic) if it exists or cannot be created.
    fn create_topic(&self, topic: NewTopic) -> BoxFuture<'static, Result<()>>;
    /// Describes a topic; `None` if it does not exist.
    fn describe_topic(&self, name: &str) -> BoxFuture<'static, Result<Option<TopicInfo>>>;
    /// The committed offsets of `group` for `partitions`.
    fn committed(&self, group: &str, partitions: Vec<TopicPartition>) -> BoxFuture<'static, Result<CommittedOffsets>>;
}

/// A way to reach a broker: consumers, a producer and an admin client.
pub trait Transport: Send + Sync + 'static {
    /// A one-line description for logs (`in-memory`, `kafka at 127.0.0.1:9092`).
    fn describe(&self) -> String;
    /// Whether consumers can be exactly-once ([`ConsumerConfig::transactional_id`]).
    fn transactions(&self) -> bool {
        false
    }
    /// Checks a consumer's settings before the app starts (an error names the bad key),
    /// so that a unit's bad property fails `App::start` instead of its member later.
    fn check_consumer(&self, config: &ConsumerConfig) -> Result<()> {
        let _ = config;
        Ok(())
    }
    /// Set when the transport's shared machinery (its producer's delivery thread, a fatal
    /// client error) can no longer work; the runtime then stops the app with the reason.
    fn failures(&self) -> Option<FailureSignal> {
        None
    }
    /// A new group consumer.
    fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>>;
    /// A producer (may be shared).
    fn producer(&self) -> Result<Arc<dyn Producer>>;
    /// The admin client.
    fn admin(&self) -> Arc<dyn Admin>;
    /// A reader of single partitions, for restoring state from changelog topics. `None`:
    /// this transport cannot, and processors with windows refuse to start on it.
    fn reader(&self) -> Option<Arc<dyn PartitionReader>> {
        None
    }
}
