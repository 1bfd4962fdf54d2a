//! The source: an rdkafka group consumer whose records are routed to one bounded queue
//! per assigned partition.
//!
//! A dedicated thread polls the consumer. Rebalance callbacks run on that thread. On an
//! assignment it creates a bounded queue per partition and reports them to the runtime. On
//! a revocation it closes the queues, reports the revocation, and *waits* (bounded) until
//! the runtime has drained and committed. Only then does librdkafka hand the partitions on.
//!
//! Backpressure: when a partition's queue is full, the partition is paused and the record
//! kept aside. Once the queue has drained to half, the kept records are queued and the
//! partition resumes. librdkafka then fetches from the position after the last record it
//! returned, so nothing is skipped. Memory per partition is bounded by the queue size plus
//! what librdkafka prefetches (`queued.max.messages.kbytes`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kflow_core::transport::{
    AssignedPartition, Consumer, GroupEvent, GroupEvents, OffsetCommitter, Producer, RevokeDone,
};
use kflow_core::{Error, Headers, Meta, Offset, Partition, RawRecord, Record, Result, TimestampType, TopicPartition};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::message::{BorrowedMessage, Headers as _};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Timestamp, TopicPartitionList};
use tokio::sync::mpsc;

use crate::producer::{DeliveryContext, KafkaProducer};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One assigned partition's queue, as the poll thread sees it.
struct Route {
    tx: mpsc::Sender<RawRecord>,
    /// Records received while the queue was full (the partition is paused meanwhile).
    kept: VecDeque<RawRecord>,
    paused: bool,
    /// Shared with the test hooks: records waiting (queue + kept).
    buffered: Arc<AtomicUsize>,
}

/// State shared by the poll thread, the rebalance callbacks and the consumer handle.
pub(crate) struct GroupContext {
    events: mpsc::UnboundedSender<GroupEvent>,
    routes: Mutex<HashMap<(Arc<str>, i32), Route>>,
    topics: Mutex<HashMap<String, Arc<str>>>,
    buffer: usize,
    revoke_timeout: Duration,
    closing: AtomicBool,
    stats: Arc<SourceStats>,
    group: String,
}

/// What the sources of one transport did, for tests and diagnostics.
#[derive(Debug, Default)]
pub struct SourceStats {
    peak_buffered: AtomicUsize,
    pauses: AtomicUsize,
}

impl SourceStats {
    /// The most records that ever waited for one partition: its queue plus records kept
    /// aside while it was paused.
    pub fn peak_buffered(&self) -> usize {
        self.peak_buffered.load(Ordering::Relaxed)
    }

    /// How many times a partition was paused because its queue was full.
    pub fn pauses(&self) -> usize {
        self.pauses.load(Ordering::Relaxed)
    }
}

impl GroupContext {
    fn topic(&self, name: &str) -> Arc<str> {
        let mut topics = lock(&self.topics);
        topics
            .entry(name.to_string())
            .or_insert_with(|| Arc::from(name))
            .clone()
    }

    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<TopicPartition> {
        tpl.elements()
            .iter()
            .map(|e| TopicPartition {
                topic: self.topic(e.topic()),
                partition: Partition(e.partition()),
            })
            .collect()
    }
}

impl ClientContext for GroupContext {
    /// librdkafka's statistics: the consumer lag of each assigned partition (high
    /// watermark minus this group's position) goes to `kflow_consumer_lag`.
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(
                    "kflow_consumer_lag",
                    "group" => self.group.clone(),
                    "topic" => topic.clone(),
                    "partition" => partition.to_string()
                )
                .set(p.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else { return };
        let partitions = self.partitions(tpl);
        {
            let mut routes = lock(&self.routes);
            for tp in &partitions {
                routes.remove(&(tp.topic.clone(), tp.partition.0));
            }
        }
        if self.closing.load(Ordering::Acquire) || partitions.is_empty() {
            return;
        }
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        if self
            .events
            .send(GroupEvent::Revoked {
                partitions,
                done: RevokeDone::new(tx),
            })
            .is_err()
        {
            return;
        }
        // Hold the rebalance until the runtime drained and committed (bounded).
        let deadline = Instant::now() + self.revoke_timeout;
        while Instant::now() < deadline {
            match rx.try_recv() {
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(2)),
                _ => return,
            }
        }
        tracing::warn!("revocation not confirmed in time; continuing the rebalance");
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let mut assigned = Vec::new();
                let mut routes = lock(&self.routes);
                for tp in self.partitions(tpl) {
                    let (tx, rx) = mpsc::channel(self.buffer);
                    let buffered = Arc::new(AtomicUsize::new(0));
                    let counter = buffered.clone();
                    let records = tokio_stream::wrappers::ReceiverStream::new(rx)
                        .inspect(move |_| {
                            counter.fetch_sub(1, Ordering::Relaxed);
                        })
                        .boxed();
                    routes.insert(
                        (tp.topic.clone(), tp.partition.0),
                        Route {
                            tx,
                            kept: VecDeque::new(),
                            paused: false,
                            buffered,
                        },
                    );
                    assigned.push(AssignedPartition { partition: tp, records });
                }
                drop(routes);
                let _ = self.events.send(GroupEvent::Assigned(assigned));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::error!(error = %e, "rebalance error"),
        }
    }
}

/// A member of a consumer group on Kafka.
pub struct KafkaConsumer {
    consumer: Arc<BaseConsumer<GroupContext>>,
    context: Arc<GroupContext>,
    events: GroupEvents,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    group: String,
    /// Exactly-once: the producer whose transactions carry this consumer's offsets.
    transactional: Option<KafkaProducer>,
}

impl KafkaConsumer {
    pub(crate) fn new(
        config: rdkafka::ClientConfig,
        group: String,
        buffer: usize,
        revoke_timeout: Duration,
        stats: Arc<SourceStats>,
        transactional: Option<KafkaProducer>,
    ) -> Result<Self> {
        let (tx, rx) = GroupEvents::new();
        let context = GroupContext {
            events: tx,
            routes: Mutex::new(HashMap::new()),
            topics: Mutex::new(HashMap::new()),
            buffer,
            revoke_timeout,
            closing: AtomicBool::new(false),
            stats,
            group: group.clone(),
        };
        let consumer: BaseConsumer<GroupContext> = config
            .create_with_context(context)
            .map_err(|e| Error::Transport(format!("cannot create a consumer for group `{group}`: {e}")))?;
        let consumer = Arc::new(consumer);
        let context = consumer.context().clone();
        Ok(KafkaConsumer {
            consumer,
            context,
            events: rx,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            group,
            transactional,
        })
    }

    fn shut(&mut self) {
        self.context.closing.store(true, Ordering::Release);
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Consumer for KafkaConsumer {
    fn subscribe(&mut self, topics: &[String]) -> Result<()> {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&names)
            .map_err(|e| Error::Transport(format!("group `{}` cannot subscribe to {topics:?}: {e}", self.group)))?;
        let (consumer, stop) = (self.consumer.clone(), self.stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("kflow-poll-{}", self.group))
            .spawn(move || poll_loop(&consumer, &stop))
            .map_err(Error::Io)?;
        self.thread = Some(thread);
        Ok(())
    }

    fn next_event(&mut self) -> BoxFuture<'_, Result<GroupEvent>> {
        self.events.next("the consumer stopped")
    }

    fn committer(&self) -> Arc<dyn OffsetCommitter> {
        match &self.transactional {
            Some(producer) => Arc::new(TransactionalCommitter {
                consumer: self.consumer.clone(),
                producer: producer.rdkafka().clone(),
                timeout: self.context.revoke_timeout,
            }),
            None => Arc::new(KafkaCommitter {
                consumer: self.consumer.clone(),
            }),
        }
    }

    fn transactional_producer(&self) -> Option<Arc<dyn Producer>> {
        self.transactional
            .as_ref()
            .map(|p| Arc::new(p.clone()) as Arc<dyn Producer>)
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        async move {
            let _ = tokio::task::spawn_blocking(move || {
                self.shut();
                drop(self);
            })
            .await;
        }
        .boxed()
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Polls until told to stop: serves rebalances, routes records, retries kept records.
fn poll_loop(consumer: &BaseConsumer<GroupContext>, stop: &AtomicBool) {
    let context = consumer.context().clone();
    let mut last_error: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        let any_kept = lock(&context.routes).values().any(|r| !r.kept.is_empty());
        let timeout = if any_kept {
            Duration::from_millis(5)
        } else {
            Duration::from_millis(100)
        };
        match consumer.poll(timeout) {
            Some(Ok(message)) => route(consumer, &context, &message),
            // Transport errors repeat while a broker is away; log them now and then.
            Some(Err(e)) if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) => {
                tracing::warn!(error = %e, "consumer error");
                last_error = Some(Instant::now());
            }
            Some(Err(_)) => {}
            None => {}
        }
        if any_kept {
            release_kept(consumer, &context);
        }
    }
}

fn route(consumer: &BaseConsumer<GroupContext>, context: &GroupContext, message: &BorrowedMessage<'_>) {
    let record = to_raw(context, message);
    let mut routes = lock(&context.routes);
    let key = (record.meta.topic.clone(), record.meta.partition.0);
    let Some(route) = routes.get_mut(&key) else {
        tracing::warn!(topic = %key.0, partition = key.1, "record for a partition that is not assigned; ignored");
        return;
    };
    let waiting = route.buffered.fetch_add(1, Ordering::Relaxed) + 1;
    context.stats.peak_buffered.fetch_max(waiting, Ordering::Relaxed);
    if !route.kept.is_empty() {
        route.kept.push_back(record);
        return;
    }
    match route.tx.try_send(record) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(record)) => {
            route.kept.push_back(record);
            if !route.paused {
                route.paused = true;
                context.stats.pauses.fetch_add(1, Ordering::Relaxed);
                let _ = consumer.pause(&single(&key.0, key.1));
            }
        }
        // The partition's task is gone (revoked): the record was never handed out, so its
        // offset is not committed and it is read again by the next owner.
        Err(mpsc::error::TrySendError::Closed(_)) => {
            route.buffered.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Queues kept records where there is room again, and resumes partitions that caught up.
fn release_kept(consumer: &BaseConsumer<GroupContext>, context: &GroupContext) {
    let mut routes = lock(&context.routes);
    for ((topic, partition), route) in routes.iter_mut() {
        if route.kept.is_empty() || route.tx.capacity() < context.buffer.div_ceil(2) {
            continue;
        }
        while let Some(record) = route.kept.pop_front() {
            match route.tx.try_send(record) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(record)) => {
                    route.kept.push_front(record);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => route.kept.clear(),
            }
        }
        if route.kept.is_empty() && route.paused {
            route.paused = false;
            let _ = consumer.resume(&single(topic, *partition));
        }
    }
}

fn single(topic: &str, partition: i32) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    tpl
}

/// Offsets (each the next to read) as librdkafka's list.
pub(crate) fn offset_list(offsets: &[(TopicPartition, Offset)]) -> rdkafka::error::KafkaResult<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for (tp, offset) in offsets {
        tpl.add_partition_offset(&tp.topic, tp.partition.0, rdkafka::Offset::Offset(offset.0))?;
    }
    Ok(tpl)
}

fn to_raw(context: &GroupContext, m: &BorrowedMessage<'_>) -> RawRecord {
    let mut headers = Headers::new();
    if let Some(hs) = m.headers() {
        for h in hs.iter() {
            match h.value {
                Some(v) => headers.insert(h.key, Bytes::copy_from_slice(v)),
                None => headers.insert_null(h.key),
            }
        }
    }
    let (timestamp, timestamp_type) = match m.timestamp() {
        Timestamp::CreateTime(t) => (t, TimestampType::CreateTime),
        Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppendTime),
        Timestamp::NotAvailable => (0, TimestampType::NotAvailable),
    };
    Record {
        key: m.key().map(Bytes::copy_from_slice),
        value: m.payload().map(Bytes::copy_from_slice),
        headers,
        meta: Meta {
            topic: context.topic(m.topic()),
            partition: Partition(m.partition()),
            offset: Offset(m.offset()),
            timestamp,
            timestamp_type,
        },
    }
}

struct KafkaCommitter {
    consumer: Arc<BaseConsumer<GroupContext>>,
}

impl OffsetCommitter for KafkaCommitter {
    fn commit(&self, offsets: Vec<(TopicPartition, Offset)>) -> BoxFuture<'static, Result<()>> {
        let consumer = self.consumer.clone();
        async move {
            let tpl = offset_list(&offsets).map_err(|e| Error::Commit(e.to_string()))?;
            tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
                .await
                .map_err(|e| Error::Commit(e.to_string()))?
                .map_err(|e| Error::Commit(e.to_string()))
        }
        .boxed()
    }
}

/// Exactly-once commits: the consumer's offsets go into the producer's open transaction,
/// which commits, and the next one begins.
struct TransactionalCommitter {
    consumer: Arc<BaseConsumer<GroupContext>>,
    producer: Arc<rdkafka::producer::ThreadedProducer<DeliveryContext>>,
    timeout: Duration,
}

impl OffsetCommitter for TransactionalCommitter {
    fn commit(&self, offsets: Vec<(TopicPartition, Offset)>) -> BoxFuture<'static, Result<()>> {
        use rdkafka::producer::Producer as _;
        let (consumer, producer, timeout) = (self.consumer.clone(), self.producer.clone(), self.timeout);
        async move {
            let tpl = offset_list(&offsets).map_err(|e| Error::Commit(e.to_string()))?;
            tokio::task::spawn_blocking(move || {
                let fail = |step: &str, e: rdkafka::error::KafkaError| Error::Transaction(format!("{step}: {e}"));
                let group = consumer
                    .group_metadata()
                    .ok_or_else(|| Error::Transaction("the consumer has no group metadata".into()))?;
                producer
                    .send_offsets_to_transaction(&tpl, &group, timeout)
                    .map_err(|e| fail("send offsets", e))?;
                producer.commit_transaction(timeout).map_err(|e| fail("commit", e))?;
                producer.begin_transaction().map_err(|e| fail("begin", e))
            })
            .await
            .map_err(|e| Error::Transaction(e.to_string()))?
        }
        .boxed()
    }

    fn abort(&self) -> BoxFuture<'static, Result<()>> {
        use rdkafka::producer::Producer as _;
        let (producer, timeout) = (self.producer.clone(), self.timeout);
        async move {
            tokio::task::spawn_blocking(move || {
                producer
                    .abort_transaction(timeout)
                    .map_err(|e| Error::Transaction(format!("abort: {e}")))?;
                producer
                    .begin_transaction()
                    .map_err(|e| Error::Transaction(format!("begin: {e}")))
            })
            .await
            .map_err(|e| Error::Transaction(e.to_string()))?
        }
        .boxed()
    }
}
