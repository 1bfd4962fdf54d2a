//! The source: an rdkafka group consumer whose records are routed to one bounded queue
//! per assigned partition.
//!
//! A dedicated thread polls the consumer. Rebalance callbacks run on that thread. On an
//! assignment it decides where each partition starts (its committed offset; else the
//! earliest offset for kflow's internal topics, or the unit's start position, which is
//! then committed at once so a restart resumes there), assigns, resumes every assigned
//! partition (librdkafka keeps a pause across unassign/assign, librdkafka#1849), creates a
//! bounded queue per partition and reports them to the runtime. On a revocation it closes
//! the queues, reports the revocation, and *waits* until the runtime has drained and
//! committed: at most the drain timeout plus one commit
//! ([`ConsumerConfig::revoke_wait`](kflow_core::transport::ConsumerConfig::revoke_wait)),
//! less if the consumer is closing. Only then does librdkafka hand the partitions on.
//!
//! Backpressure: when a partition's queue is full, the partition is paused and the record
//! kept aside. Once the queue has drained to half, the kept records are queued and the
//! partition resumes. librdkafka then fetches from the position after the last record it
//! returned, so nothing is skipped. Memory per partition is bounded by the queue size plus
//! what librdkafka prefetches (`queued.max.messages.kbytes`).
//!
//! Nothing on the poll thread fails quietly: a panic there or in a callback, or an error
//! librdkafka calls fatal, sets the consumer's [`FailureSignal`], and the runtime's next
//! wait for a group event returns that error, which stops the app.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kflow_core::transport::{
    AssignedPartition, Backlog, Consumer, FailureSignal, GroupEvent, GroupEvents, OffsetCommitter, Producer,
    RevokeDone, SeekTo, StartFrom, TransactionCommitter, Transactions,
};
use kflow_core::{panic_message, Error, Offset, Partition, RawRecord, Result, TopicPartition};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Message, TopicPartitionList};
use tokio::sync::mpsc;

use super::producer::KafkaProducer;
use crate::convert::{self, offset_in, offset_list};

/// How long one broker request made inside a rebalance callback (committed offsets,
/// watermarks, the start-position commit) may take.
const CALLBACK_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One assigned partition's queue, as the poll thread sees it.
struct Route {
    tx: mpsc::Sender<RawRecord>,
    /// Records received while the queue was full (the partition is paused meanwhile).
    kept: VecDeque<RawRecord>,
    paused: bool,
    /// Records waiting (queue + kept): the partition's backlog.
    buffered: Arc<AtomicUsize>,
}

/// How a consumer starts and waits; fixed when it is created.
pub(crate) struct ConsumerSettings {
    pub group: String,
    pub buffer: usize,
    /// The longest a revocation is held for the runtime to drain and commit.
    pub revoke_wait: Duration,
    /// How long one commit (of offsets or a transaction) may take.
    pub commit_timeout: Duration,
    pub start: StartFrom,
    /// Topics that start from the earliest offset whatever `start` says.
    pub earliest: HashSet<String>,
    pub stats: Arc<SourceStats>,
    pub faults: Arc<Faults>,
}

/// State shared by the poll thread, the rebalance callbacks and the consumer handle.
pub(crate) struct GroupContext {
    events: mpsc::UnboundedSender<GroupEvent>,
    routes: Mutex<HashMap<(Arc<str>, i32), Route>>,
    topics: Mutex<HashMap<String, Arc<str>>>,
    settings: ConsumerSettings,
    closing: AtomicBool,
    /// Wakes a revocation that waits for the runtime (when the consumer closes).
    revoke_wake: Mutex<Option<std::sync::mpsc::SyncSender<()>>>,
    failure: FailureSignal,
    /// Partitions to hand out again from new positions (a seek), served by the poll
    /// thread between polls.
    restarts: Mutex<Vec<RestartOrder>>,
}

/// Partitions to restart at offsets (`None`: the committed one), and where to answer.
struct RestartOrder {
    positions: Vec<(TopicPartition, Option<Offset>)>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<AssignedPartition>>>,
}

/// How long a restart waits for the poll thread (which serves it between polls, each at
/// most 100 ms, and then seeks each partition).
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Faults a test can inject into a transport's consumers (see
/// [`crate::KafkaTransport::faults`]).
#[derive(Debug, Default)]
pub struct Faults {
    poll_panic: AtomicBool,
}

impl Faults {
    /// The next poll of one of the transport's consumers panics on its poll thread, as a
    /// bug there would.
    pub fn panic_next_poll(&self) {
        self.poll_panic.store(true, Ordering::SeqCst);
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

    fn group(&self) -> &str {
        &self.settings.group
    }

    /// Runs a rebalance step; a panic in it stops the app instead of unwinding into C
    /// (which would abort the process).
    fn guarded(&self, step: &str, f: impl FnOnce()) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
            self.failure.fail(format!(
                "the {step} callback of group `{}` panicked: {}",
                self.group(),
                panic_message(&*panic)
            ));
        }
    }

    /// Where each newly assigned partition starts, as an assignment list with explicit
    /// offsets; partitions without a committed offset get their start position committed.
    fn starting_positions(
        &self,
        consumer: &BaseConsumer<GroupContext>,
        tpl: &TopicPartitionList,
    ) -> std::result::Result<TopicPartitionList, String> {
        let committed = consumer
            .committed_offsets(tpl.clone(), CALLBACK_REQUEST_TIMEOUT)
            .map_err(|e| format!("cannot read its committed offsets: {e}"))?;
        let mut assign = TopicPartitionList::new();
        let mut commit = TopicPartitionList::new();
        let mut latest = false;
        for e in committed.elements() {
            let (topic, partition) = (e.topic(), e.partition());
            let offset = match e.offset() {
                rdkafka::Offset::Offset(n) if n >= 0 => n,
                _ => {
                    let start = match self.settings.earliest.contains(topic) {
                        true => StartFrom::Earliest,
                        false => self.settings.start,
                    };
                    let (low, high) = consumer
                        .fetch_watermarks(topic, partition, CALLBACK_REQUEST_TIMEOUT)
                        .map_err(|e| format!("cannot read the offsets of {topic}-{partition}: {e}"))?;
                    let at = match start {
                        StartFrom::Earliest => low,
                        StartFrom::Latest => {
                            latest = true;
                            high
                        }
                    };
                    tracing::info!(group = self.group(), %topic, partition, offset = at, ?start, "no committed offset: starting here and committing it");
                    commit
                        .add_partition_offset(topic, partition, rdkafka::Offset::Offset(at))
                        .map_err(|e| e.to_string())?;
                    at
                }
            };
            assign
                .add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))
                .map_err(|e| e.to_string())?;
        }
        if commit.count() > 0 {
            if let Err(e) = consumer.commit(&commit, CommitMode::Sync) {
                let why = format!("cannot commit the start positions of partitions without a committed offset: {e}");
                // From the earliest offset a restart starts at the same place anyway;
                // from the latest, it would skip what arrives until the first commit.
                if latest {
                    return Err(why);
                }
                tracing::warn!(group = self.group(), error = %why, "start positions not committed");
            }
        }
        Ok(assign)
    }

    fn assign(&self, consumer: &BaseConsumer<GroupContext>, tpl: &TopicPartitionList) {
        let assign = match self.starting_positions(consumer, tpl) {
            Ok(assign) => assign,
            Err(e) => {
                self.failure
                    .fail(format!("group `{}`: an assignment failed: {e}", self.group()));
                return;
            }
        };
        if let Err(e) = consumer.assign(&assign) {
            self.failure
                .fail(format!("group `{}`: cannot take its assignment: {e}", self.group()));
            return;
        }
        // librdkafka keeps a partition's pause across unassign/assign (librdkafka#1849): a
        // partition paused by backpressure before a rebalance would never be fetched
        // again. Every new route starts unpaused, so the partition must be too.
        if let Err(e) = consumer.resume(&assign) {
            self.failure
                .fail(format!("group `{}`: cannot resume its assignment: {e}", self.group()));
            return;
        }
        let assigned = self.partitions(tpl).into_iter().map(|tp| self.new_route(tp)).collect();
        let _ = self.events.send(GroupEvent::Assigned(assigned));
    }

    /// A new queue for `tp` (replacing any earlier one) and the stream that reads it.
    fn new_route(&self, tp: TopicPartition) -> AssignedPartition {
        let (tx, rx) = mpsc::channel(self.settings.buffer);
        let buffered = Arc::new(AtomicUsize::new(0));
        let counter = buffered.clone();
        let records = tokio_stream::wrappers::ReceiverStream::new(rx)
            .inspect(move |_| {
                counter.fetch_sub(1, Ordering::Relaxed);
            })
            .boxed();
        lock(&self.routes).insert(
            (tp.topic.clone(), tp.partition.0),
            Route {
                tx,
                kept: VecDeque::new(),
                paused: false,
                buffered: buffered.clone(),
            },
        );
        AssignedPartition {
            partition: tp,
            records,
            backlog: Backlog::counter(buffered),
        }
    }

    /// On the poll thread (so that no record is being routed meanwhile): moves each
    /// partition to its offset and gives it a new queue. librdkafka drops what it had
    /// fetched from before a seek, so the new queue gets only records from the offset on.
    fn restart(
        &self,
        consumer: &BaseConsumer<GroupContext>,
        positions: Vec<(TopicPartition, Option<Offset>)>,
    ) -> Result<Vec<AssignedPartition>> {
        let fail = |tp: &TopicPartition, what: String| {
            Error::transport(format!("consumer of group `{}`", self.group()), format!("{tp}: {what}"))
        };
        let mut unknown = TopicPartitionList::new();
        for (tp, _) in positions.iter().filter(|(_, at)| at.is_none()) {
            unknown.add_partition(&tp.topic, tp.partition.0);
        }
        let committed = match unknown.count() {
            0 => None,
            _ => Some(
                consumer
                    .committed_offsets(unknown, CALLBACK_REQUEST_TIMEOUT)
                    .map_err(|e| {
                        Error::transport(
                            format!("consumer of group `{}`", self.group()),
                            "cannot read its committed offsets",
                        )
                        .caused_by(e)
                    })?,
            ),
        };
        let mut restarted = Vec::new();
        for (tp, at) in positions {
            if !lock(&self.routes).contains_key(&(tp.topic.clone(), tp.partition.0)) {
                // Revoked meanwhile (a rebalance came first): its next owner reads it.
                tracing::info!(group = self.group(), partition = %tp, "not restarted: revoked meanwhile");
                continue;
            }
            let at = match at {
                Some(at) => at.0,
                None => committed
                    .as_ref()
                    .and_then(|c| offset_in(c, &tp))
                    .ok_or_else(|| fail(&tp, "no committed offset to restart from".into()))?,
            };
            consumer
                .seek(
                    &tp.topic,
                    tp.partition.0,
                    rdkafka::Offset::Offset(at),
                    CALLBACK_REQUEST_TIMEOUT,
                )
                .map_err(|e| fail(&tp, format!("seek to {at} failed: {e}")))?;
            // A queue that was full left the partition paused; the new one is empty.
            let _ = consumer.resume(&single(&tp.topic, tp.partition.0));
            tracing::info!(group = self.group(), partition = %tp, offset = at, "partition restarted");
            restarted.push(self.new_route(tp));
        }
        Ok(restarted)
    }

    /// Answers the restarts asked for (on the poll thread).
    fn serve_restarts(&self, consumer: &BaseConsumer<GroupContext>) {
        let restarts = std::mem::take(&mut *lock(&self.restarts));
        for order in restarts {
            let _ = order.reply.send(self.restart(consumer, order.positions));
        }
    }

    /// Closes the revoked partitions' queues and holds the rebalance until the runtime
    /// drained and committed them (bounded; cut short when the consumer closes). A
    /// restart asked for meanwhile (a seek) is answered while waiting, without the
    /// revoked partitions, so the runtime gets to the revocation.
    fn revoke(&self, consumer: &BaseConsumer<GroupContext>, tpl: &TopicPartitionList) {
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
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(2);
        *lock(&self.revoke_wake) = Some(tx.clone());
        let done = RevokeDone::from_fn(move || {
            let _ = tx.try_send(());
        });
        if self.events.send(GroupEvent::Revoked { partitions, done }).is_err() {
            return;
        }
        let started = Instant::now();
        let waited = loop {
            self.serve_restarts(consumer);
            let left = self.settings.revoke_wait.saturating_sub(started.elapsed());
            match rx.recv_timeout(left.min(Duration::from_millis(50))) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => continue,
                other => break other,
            }
        };
        lock(&self.revoke_wake).take();
        match waited {
            _ if self.closing.load(Ordering::Acquire) => {
                tracing::info!(
                    group = self.group(),
                    "closing: not waiting for the revocation any longer"
                )
            }
            Ok(()) => tracing::debug!(group = self.group(), waited = ?started.elapsed(), "revocation confirmed"),
            Err(_) => tracing::warn!(
                group = self.group(),
                waited = ?started.elapsed(),
                "revocation not confirmed within the drain timeout and commit allowance; continuing the rebalance"
            ),
        }
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
                    "group" => self.group().to_string(),
                    "topic" => topic.clone(),
                    "partition" => partition.to_string()
                )
                .set(p.consumer_lag as f64);
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            self.failure.fail(format!(
                "the consumer of group `{}` hit a fatal error: {reason}",
                self.group()
            ));
        } else {
            tracing::debug!(group = self.group(), error = %error, %reason, "consumer client error (librdkafka retries)");
        }
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.guarded("assignment", || self.assign(consumer, tpl))
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.guarded("revocation", || self.revoke(consumer, tpl));
                if let Err(e) = consumer.unassign() {
                    tracing::warn!(group = self.group(), error = %e, "unassign failed");
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                tracing::error!(group = self.group(), error = %code, "rebalance error");
                let _ = consumer.unassign();
            }
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
    /// Exactly-once: the producer whose transactions carry this consumer's offsets.
    transactional: Option<KafkaProducer>,
}

impl KafkaConsumer {
    pub(crate) fn new(
        config: rdkafka::ClientConfig,
        settings: ConsumerSettings,
        failure: FailureSignal,
        transactional: Option<KafkaProducer>,
    ) -> Result<Self> {
        let (tx, rx) = GroupEvents::new();
        let group = settings.group.clone();
        let context = GroupContext {
            events: tx,
            routes: Mutex::new(HashMap::new()),
            topics: Mutex::new(HashMap::new()),
            settings,
            closing: AtomicBool::new(false),
            revoke_wake: Mutex::new(None),
            failure,
            restarts: Mutex::new(Vec::new()),
        };
        let consumer: BaseConsumer<GroupContext> = config
            .create_with_context(context)
            .map_err(|e| Error::transport(format!("consumer of group `{group}`"), "cannot be created").caused_by(e))?;
        let consumer = Arc::new(consumer);
        let context = consumer.context().clone();
        Ok(KafkaConsumer {
            consumer,
            context,
            events: rx,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            transactional,
        })
    }

    fn shut(&mut self) {
        self.context.closing.store(true, Ordering::Release);
        if let Some(wake) = lock(&self.context.revoke_wake).take() {
            let _ = wake.try_send(());
        }
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Consumer for KafkaConsumer {
    fn subscribe(&mut self, topics: &[String]) -> Result<()> {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let group = self.context.group().to_string();
        self.consumer.subscribe(&names).map_err(|e| {
            Error::transport(
                format!("consumer of group `{group}`"),
                format!("cannot subscribe to {topics:?}"),
            )
            .caused_by(e)
        })?;
        let (consumer, stop) = (self.consumer.clone(), self.stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("kflow-poll-{group}"))
            .spawn(move || poll_loop(&consumer, &stop))
            .map_err(Error::Io)?;
        self.thread = Some(thread);
        Ok(())
    }

    fn next_event(&mut self) -> BoxFuture<'_, Result<GroupEvent>> {
        let failure = self.context.failure.clone();
        let group = self.context.group().to_string();
        Box::pin(async move {
            tokio::select! {
                biased;
                reason = failure.wait() => Err(Error::transport(format!("consumer of group `{group}`"), reason)),
                event = self.events.next("the consumer stopped") => event,
            }
        })
    }

    fn committer(&self) -> Arc<dyn OffsetCommitter> {
        Arc::new(KafkaCommitter {
            consumer: self.consumer.clone(),
            group: self.context.group().to_string(),
        })
    }

    fn transactions(&self) -> Option<Transactions> {
        let producer = self.transactional.as_ref()?;
        Some(Transactions {
            producer: Arc::new(producer.clone()) as Arc<dyn Producer>,
            committer: Arc::new(TransactionalCommitter {
                consumer: self.consumer.clone(),
                producer: producer.clone(),
                timeout: self.context.settings.commit_timeout,
            }),
        })
    }

    fn position_of(&self, partition: &TopicPartition, to: SeekTo) -> BoxFuture<'static, Result<Offset>> {
        let (consumer, tp) = (self.consumer.clone(), partition.clone());
        let what = format!("consumer of group `{}`", self.context.group());
        async move {
            tokio::task::spawn_blocking(move || {
                let fail =
                    |e: KafkaError| Error::transport(what.clone(), format!("cannot find {to} in {tp}")).caused_by(e);
                let (low, high) = consumer
                    .fetch_watermarks(&tp.topic, tp.partition.0, CALLBACK_REQUEST_TIMEOUT)
                    .map_err(fail)?;
                Ok(Offset(match to {
                    SeekTo::Earliest => low,
                    SeekTo::Latest => high,
                    SeekTo::Offset(o) => o.0.clamp(low, high.max(low)),
                    SeekTo::Timestamp(ms) => {
                        let times = offset_list(&[(tp.clone(), Offset(ms))]).map_err(fail)?;
                        let found = consumer
                            .offsets_for_times(times, CALLBACK_REQUEST_TIMEOUT)
                            .map_err(fail)?;
                        offset_in(&found, &tp).unwrap_or(high)
                    }
                }))
            })
            .await
            .map_err(|e| Error::transport("consumer", "the offset lookup did not finish").caused_by(e))?
        }
        .boxed()
    }

    fn restart(
        &mut self,
        positions: Vec<(TopicPartition, Option<Offset>)>,
    ) -> BoxFuture<'_, Result<Vec<AssignedPartition>>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        lock(&self.context.restarts).push(RestartOrder { positions, reply });
        let group = self.context.group().to_string();
        async move {
            match tokio::time::timeout(RESTART_TIMEOUT, answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(Error::transport(
                    format!("consumer of group `{group}`"),
                    "its poll thread stopped",
                )),
                Err(_) => Err(Error::transport(
                    format!("consumer of group `{group}`"),
                    format!("the restart was not served within {} s", RESTART_TIMEOUT.as_secs()),
                )),
            }
        }
        .boxed()
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

/// Polls until told to stop; a panic or a fatal error ends it and sets the consumer's
/// failure signal.
fn poll_loop(consumer: &BaseConsumer<GroupContext>, stop: &AtomicBool) {
    let context = consumer.context().clone();
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| poll_until_stopped(consumer, &context, stop))) {
        context.failure.fail(format!(
            "the poll thread of group `{}` panicked: {}",
            context.group(),
            panic_message(&*panic)
        ));
    }
}

/// Serves rebalances, routes records, retries kept records.
fn poll_until_stopped(consumer: &BaseConsumer<GroupContext>, context: &GroupContext, stop: &AtomicBool) {
    let mut last_error: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        if context.settings.faults.poll_panic.swap(false, Ordering::SeqCst) {
            panic!("injected fault: a panic on the poll thread");
        }
        context.serve_restarts(consumer);
        let any_kept = lock(&context.routes).values().any(|r| !r.kept.is_empty());
        let timeout = if any_kept {
            Duration::from_millis(5)
        } else {
            Duration::from_millis(100)
        };
        match consumer.poll(timeout) {
            Some(Ok(message)) => route(consumer, context, &message),
            Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                context.failure.fail(format!(
                    "the consumer of group `{}` hit a fatal error: {code}",
                    context.group()
                ));
                return;
            }
            // Transport errors repeat while a broker is away; log them now and then.
            Some(Err(e)) if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) => {
                tracing::warn!(group = context.group(), error = %e, "consumer error");
                last_error = Some(Instant::now());
            }
            Some(Err(_)) => {}
            None => {}
        }
        if any_kept {
            release_kept(consumer, context);
        }
    }
}

fn route(consumer: &BaseConsumer<GroupContext>, context: &GroupContext, message: &BorrowedMessage<'_>) {
    let record: RawRecord = convert::record(message, context.topic(message.topic()));
    let mut routes = lock(&context.routes);
    let key = (record.meta.topic.clone(), record.meta.partition.0);
    let Some(route) = routes.get_mut(&key) else {
        tracing::warn!(topic = %key.0, partition = key.1, "record for a partition that is not assigned; ignored");
        return;
    };
    let waiting = route.buffered.fetch_add(1, Ordering::Relaxed) + 1;
    context
        .settings
        .stats
        .peak_buffered
        .fetch_max(waiting, Ordering::Relaxed);
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
                context.settings.stats.pauses.fetch_add(1, Ordering::Relaxed);
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
        if route.kept.is_empty() || route.tx.capacity() < context.settings.buffer.div_ceil(2) {
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

struct KafkaCommitter {
    consumer: Arc<BaseConsumer<GroupContext>>,
    group: String,
}

impl OffsetCommitter for KafkaCommitter {
    fn commit(&self, offsets: Vec<(TopicPartition, Offset)>) -> BoxFuture<'static, Result<()>> {
        let (consumer, group) = (self.consumer.clone(), self.group.clone());
        async move {
            let tpl = offset_list(&offsets).map_err(|e| Error::commit(&group).caused_by(e))?;
            tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
                .await
                .map_err(|e| Error::commit(&group).caused_by(e))?
                .map_err(|e| Error::commit(&group).caused_by(e))
        }
        .boxed()
    }
}

/// Exactly-once commits: the consumer's offsets go into the producer's open transaction,
/// which commits, and the next one begins.
struct TransactionalCommitter {
    consumer: Arc<BaseConsumer<GroupContext>>,
    producer: KafkaProducer,
    timeout: Duration,
}

impl TransactionCommitter for TransactionalCommitter {
    fn commit_transaction(&self, offsets: Vec<(TopicPartition, Offset)>) -> BoxFuture<'static, Result<()>> {
        use rdkafka::producer::Producer as _;
        let (consumer, producer, timeout) = (self.consumer.clone(), self.producer.clone(), self.timeout);
        async move {
            let id = producer.transactional_id().to_string();
            let tpl = offset_list(&offsets)
                .map_err(|e| Error::transaction(&id, "listing the offsets failed").caused_by(e))?;
            let rd = producer.rdkafka().clone();
            let step_id = id.clone();
            tokio::task::spawn_blocking(move || {
                let fail =
                    |step: &str, e: KafkaError| Error::transaction(&step_id, format!("{step} failed")).caused_by(e);
                let group = consumer.group_metadata().ok_or_else(|| {
                    Error::transaction(&step_id, "reading the consumer's group metadata failed: it has none")
                })?;
                rd.send_offsets_to_transaction(&tpl, &group, timeout)
                    .map_err(|e| fail("sending the offsets", e))?;
                rd.commit_transaction(timeout).map_err(|e| fail("commit", e))?;
                rd.begin_transaction().map_err(|e| fail("beginning the next one", e))
            })
            .await
            .map_err(|e| Error::transaction(&id, "the commit did not finish").caused_by(e))?
        }
        .boxed()
    }

    fn abort(&self) -> BoxFuture<'static, Result<()>> {
        use rdkafka::producer::Producer as _;
        let (producer, timeout) = (self.producer.clone(), self.timeout);
        async move {
            let id = producer.transactional_id().to_string();
            let rd = producer.rdkafka().clone();
            let step_id = id.clone();
            tokio::task::spawn_blocking(move || {
                let fail =
                    |step: &str, e: KafkaError| Error::transaction(&step_id, format!("{step} failed")).caused_by(e);
                rd.abort_transaction(timeout).map_err(|e| fail("abort", e))?;
                rd.begin_transaction().map_err(|e| fail("beginning the next one", e))
            })
            .await
            .map_err(|e| Error::transaction(&id, "the abort did not finish").caused_by(e))?
        }
        .boxed()
    }
}
