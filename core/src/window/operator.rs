use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Future, Stream};
use pin_project_lite::pin_project;

use super::store::{Aggregator, Entry, Inserted, WindowStore};
use super::WindowResult;
use crate::codec::EncodeError;
use crate::error::{ErrorKind, Result};
use crate::event::{Event, Msg};
use crate::flow::{origin_of, poll_sending, OriginCounter, TaskEnv};
use crate::record::Timestamp;
use crate::state::restore::{Restored, Restoring};
use crate::telemetry::{metrics, DropCounter, DropReason};
use crate::transport::OutRecord;

/// Where late records go: a topic and how to encode their values.
pub(crate) struct LateTopic<T> {
    pub(crate) topic: Arc<str>,
    pub(crate) encode: fn(&T) -> std::result::Result<Option<Bytes>, EncodeError>,
}

/// Opt-in idle advance ([`super::Windowed::idle_advance`]): once no record has arrived
/// for `after`, stream time follows the wall clock from the last record on.
pub(crate) struct IdleAdvance {
    after: Duration,
    /// Set by the first record: see [`LastRecord`].
    last: Option<LastRecord>,
}

/// When the last record arrived, the stream time it left, and the timer armed for
/// `after` past it (then every `after` while the task stays idle).
struct LastRecord {
    at: tokio::time::Instant,
    stream_time: Timestamp,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl IdleAdvance {
    pub(crate) fn new(after: Duration) -> Self {
        IdleAdvance { after, last: None }
    }

    fn record_arrived(&mut self, stream_time: Timestamp) {
        let at = tokio::time::Instant::now();
        match self.last.as_mut() {
            Some(last) => {
                (last.at, last.stream_time) = (at, stream_time);
                last.timer.as_mut().reset(at + self.after);
            }
            None => {
                let timer = Box::pin(tokio::time::sleep_until(at + self.after));
                self.last = Some(LastRecord { at, stream_time, timer });
            }
        }
    }

    /// The stream time the wall clock gives, once the task has been idle for `after`.
    fn poll_due(&mut self, cx: &mut Context<'_>) -> Option<Timestamp> {
        let last = self.last.as_mut()?;
        if last.timer.as_mut().poll(cx).is_pending() {
            return None;
        }
        let now = tokio::time::Instant::now();
        last.timer.as_mut().reset(now + self.after);
        let idle = i64::try_from(now.duration_since(last.at).as_millis()).unwrap_or(i64::MAX);
        Some(last.stream_time.saturating_add(idle))
    }
}

/// Flush the changelog once this many slots changed, even while records keep coming.
const FLUSH_DIRTY_SLOTS: usize = 4096;

/// Flush the changelog at most this often when the task runs out of records, so that a
/// slot changed by many small fetches is written once, not once per fetch. A record's
/// offset commits up to this much later.
const FLUSH_INTERVAL: Duration = Duration::from_millis(20);

/// The names a window operator reports under, and the topics whose records' origin
/// headers it trusts.
pub(crate) struct WindowNames {
    pub store: String,
    pub changelog: Option<String>,
    pub trusted: Vec<String>,
}

pin_project! {
    /// Stream for [`super::Windowed::aggregate`]: keeps stream time, assigns records to
    /// windows, emits closed windows and routes late records. With a changelog, restores
    /// the store before the first record and writes its changes as records pass.
    #[must_use = "streams do nothing unless polled"]
    pub(crate) struct WindowAggregate<S, St, K, T, A> {
        #[pin]
        upstream: S,
        store: St,
        agg: Aggregator<T, A>,
        stream_time: Timestamp,
        out: VecDeque<Event<WindowResult<K, A>>>,
        late: Option<LateTopic<T>>,
        late_count: DropCounter,
        late_metric: ::metrics::Counter,
        duplicates: ::metrics::Counter,
        env: TaskEnv,
        sending: Option<BoxFuture<'static, Result<()>>>,
        writing: Option<BoxFuture<'static, Result<()>>>,
        idle: Option<IdleAdvance>,
        names: WindowNames,
        origins: OriginCounter,
        restoring: Restoring,
        upstream_done: bool,
        done: bool,
        last_flush: tokio::time::Instant,
        flush_timer: Option<Pin<Box<tokio::time::Sleep>>>,
        // Exactly-once: see `TxnHold`.
        txn: TxnHold,
        // A restore read but not yet applied: it would emit while a commit is under way.
        unfinished: Option<Restored>,
        // A tick that came while a commit was under way, applied after it.
        pending_tick: Option<Timestamp>,
    }
}

/// Exactly-once: a result and the changelog writes that follow its delivery (the
/// window's deletion, closed and delivered marks) must commit in one transaction, so the
/// operator holds the member's commit (see [`crate::ack::Holds`]) from the first record
/// it takes until nothing it emitted or wrote is pending. Without exactly-once it holds
/// nothing.
#[derive(Default)]
pub(crate) struct TxnHold {
    holds: Option<crate::ack::Holds>,
    hold: Option<crate::ack::Hold>,
}

impl TxnHold {
    pub(crate) fn new(env: &TaskEnv) -> Self {
        TxnHold {
            holds: env.state().and_then(|s| s.holds.clone()),
            hold: None,
        }
    }

    /// A tracked record arrived: hold (the commit cannot have passed it yet).
    pub(crate) fn record(&mut self) {
        if let (Some(holds), None) = (&self.holds, &self.hold) {
            self.hold = Some(holds.hold());
        }
    }

    /// Whether work no record causes (a close by ticks, the wall clock or a restore) may
    /// run now: not while a commit is under way.
    pub(crate) fn may_work(&mut self) -> bool {
        match &self.holds {
            None => true,
            Some(_) if self.hold.is_some() => true,
            Some(holds) => {
                self.hold = holds.try_hold();
                self.hold.is_some()
            }
        }
    }

    /// Nothing is pending any more.
    pub(crate) fn release(&mut self) {
        self.hold = None;
    }
}

impl<S, St, K, T, A> WindowAggregate<S, St, K, T, A> {
    pub(crate) fn new(
        upstream: S,
        store: St,
        agg: Aggregator<T, A>,
        late: Option<LateTopic<T>>,
        idle: Option<IdleAdvance>,
        names: WindowNames,
        env: &TaskEnv,
    ) -> Self {
        WindowAggregate {
            upstream,
            store,
            agg,
            stream_time: Timestamp::MIN,
            out: VecDeque::new(),
            late,
            late_count: env.counter(DropReason::Late),
            late_metric: metrics::window_late(env.name()),
            duplicates: metrics::window_duplicates(env.name()),
            env: env.clone(),
            sending: None,
            writing: None,
            idle,
            names,
            origins: OriginCounter::default(),
            restoring: Restoring::Pending,
            upstream_done: false,
            done: false,
            last_flush: tokio::time::Instant::now(),
            flush_timer: None,
            txn: TxnHold::new(env),
            unfinished: None,
            pending_tick: None,
        }
    }
}

impl<S, St, K, T, A> Stream for WindowAggregate<S, St, K, T, A>
where
    S: Stream<Item = Event<(K, T)>>,
    St: WindowStore<K, T, A>,
{
    type Item = Event<WindowResult<K, A>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(event) = this.out.pop_front() {
                return Poll::Ready(Some(event));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            // The store first: restored before any record, then its writes sent in order.
            match this.restoring {
                Restoring::Pending => {
                    *this.restoring = start_restore(this.store, this.env, this.names);
                    continue;
                }
                Restoring::Running { restore, .. } => {
                    let restored = std::task::ready!(restore.as_mut().poll(cx));
                    *this.restoring = Restoring::Done;
                    match restored {
                        Ok(r) => *this.unfinished = Some(r),
                        Err(e) => {
                            fail(this.env, this.names, &e.to_string());
                            *this.done = true;
                        }
                    }
                    continue;
                }
                Restoring::Done => {}
            }
            if let Some(restored) = this.unfinished.take() {
                if !this.txn.may_work() {
                    *this.unfinished = Some(restored);
                    std::task::ready!(retry_later(this.flush_timer, cx));
                    continue;
                }
                let applied = finish_restore(
                    restored,
                    this.store,
                    this.agg,
                    this.out,
                    this.stream_time,
                    this.env,
                    this.names,
                );
                if let Err(reason) = applied {
                    fail(this.env, this.names, &reason);
                    *this.done = true;
                }
                continue;
            }
            std::task::ready!(poll_sending(this.writing, this.env, cx));
            if let Some(log) = this.store.changelog() {
                if let Poll::Ready(Err(reason)) = log.poll_checkpoint(cx) {
                    fail(this.env, this.names, &reason);
                    *this.done = true;
                    continue;
                }
                if let Some((record, ack)) = log.next_write() {
                    let producer = this
                        .env
                        .producer()
                        .expect("a changelog is only attached with a producer");
                    *this.writing = Some(producer.send(record, ack));
                    continue;
                }
            }
            if *this.upstream_done {
                // An on-disk store applies its last writes and checkpoints first.
                if let Some(log) = this.store.changelog() {
                    match log.poll_finish(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(reason)) => fail(this.env, this.names, &reason),
                        Poll::Ready(Ok(())) if log.has_writes() => continue,
                        Poll::Ready(Ok(())) => {}
                    }
                }
                *this.done = true;
                continue;
            }
            std::task::ready!(poll_sending(this.sending, this.env, cx));
            let next = match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(next) => next,
                Poll::Pending => {
                    // Nothing more right now: write what changed, at most every
                    // FLUSH_INTERVAL (slots changed again meanwhile are written once).
                    let now = tokio::time::Instant::now();
                    if now >= *this.last_flush + FLUSH_INTERVAL {
                        *this.last_flush = now;
                        *this.flush_timer = None;
                        if let Err(reason) = flush_store(this.store, *this.stream_time, cx) {
                            fail(this.env, this.names, &reason);
                            *this.done = true;
                            continue;
                        }
                        if this.store.changelog().is_some_and(|log| log.has_writes()) {
                            continue;
                        }
                    }
                    // Slots to write, or writes waiting for deliveries: flush again later.
                    let waiting =
                        this.store.dirty() > 0 || this.store.changelog().is_some_and(|log| log.has_deferred());
                    if waiting {
                        let due = *this.last_flush + FLUSH_INTERVAL;
                        let timer = this
                            .flush_timer
                            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                        if timer.as_mut().poll(cx).is_ready() {
                            *this.flush_timer = None;
                            continue;
                        }
                    } else {
                        // Every result delivered and every write acknowledged.
                        this.txn.release();
                    }
                    if let Some(t) = *this.pending_tick {
                        if this.txn.may_work() {
                            *this.pending_tick = None;
                            *this.stream_time = (*this.stream_time).max(t);
                            this.store.close(*this.stream_time, this.agg, this.out);
                            this.out.push_back(Event::Tick(t));
                            continue;
                        }
                        std::task::ready!(retry_later(this.flush_timer, cx));
                        continue;
                    }
                    // A quiet task: with idle advance, the wall clock moves stream time
                    // (under exactly-once, not while a commit is under way: the next
                    // due time then).
                    match this.idle.as_mut().and_then(|idle| idle.poll_due(cx)) {
                        Some(t) if t > *this.stream_time && this.txn.may_work() => {
                            *this.stream_time = t;
                            this.store.close(t, this.agg, this.out);
                            continue;
                        }
                        _ => return Poll::Pending,
                    }
                }
            };
            match next {
                Some(Event::Msg(Msg { record, ack })) => {
                    this.txn.record();
                    let ts = record.meta.timestamp;
                    *this.stream_time = (*this.stream_time).max(ts);
                    if let Some(idle) = this.idle.as_mut() {
                        idle.record_arrived(*this.stream_time);
                    }
                    let origin = origin_of(&record.meta, &record.headers, &this.names.trusted, this.origins);
                    // Seen before (by this task or the one before a restart)?
                    let seen = match (this.store.changelog(), origin.as_ref()) {
                        (Some(log), Some(origin)) => {
                            let seen = log.seen.covers(origin);
                            log.seen.advance(origin);
                            seen
                        }
                        _ => false,
                    };
                    let (key, value) = record.value;
                    let entry = Entry {
                        key,
                        key_bytes: record.key,
                        value,
                        meta: record.meta,
                        ack,
                    };
                    match this
                        .store
                        .insert(entry, origin.as_ref(), *this.stream_time, this.agg, this.out)
                    {
                        Ok(Inserted::Applied) => {}
                        Ok(Inserted::Duplicate) => this.duplicates.increment(1),
                        // Its windows closed and were deleted after it was applied: a replay.
                        Err(replayed) if seen => {
                            this.duplicates.increment(1);
                            drop(replayed.ack);
                        }
                        Err(late) => {
                            this.late_count.incr();
                            this.late_metric.increment(1);
                            if let Some(route) = this.late.as_ref() {
                                *this.sending = route_late(this.env, route, late);
                            }
                        }
                    }
                    this.store.close(*this.stream_time, this.agg, this.out);
                    if this.store.dirty() >= FLUSH_DIRTY_SLOTS {
                        if let Err(reason) = flush_store(this.store, *this.stream_time, cx) {
                            fail(this.env, this.names, &reason);
                            *this.done = true;
                        }
                    }
                }
                Some(Event::Tick(t)) if this.txn.may_work() => {
                    *this.stream_time = (*this.stream_time).max(t);
                    this.store.close(*this.stream_time, this.agg, this.out);
                    this.out.push_back(Event::Tick(t));
                }
                Some(Event::Tick(t)) => *this.pending_tick = Some(this.pending_tick.map_or(t, |p| p.max(t))),
                // Open windows are not emitted at the end of input. With a changelog,
                // what changed is written (releasing its records' acks) and restored by
                // the next owner; without one, their acks stay held, so their records are
                // replayed into them after a restart.
                None => {
                    *this.upstream_done = true;
                    if let Err(reason) = flush_store(this.store, *this.stream_time, cx) {
                        fail(this.env, this.names, &reason);
                        *this.done = true;
                    }
                }
            }
        }
    }
}

/// Flushes the store and, if that started a checkpoint of its database, polls it (so
/// that its end wakes the task).
fn flush_store<K, T, A, St: WindowStore<K, T, A>>(
    store: &mut St,
    stream_time: Timestamp,
    cx: &mut Context<'_>,
) -> std::result::Result<(), String> {
    store.flush(stream_time)?;
    match store.changelog().map(|log| log.poll_checkpoint(cx)) {
        Some(Poll::Ready(Err(reason))) => Err(reason),
        _ => Ok(()),
    }
}

/// Ready once `FLUSH_INTERVAL` passed (the timer is armed on the first call).
fn retry_later(timer: &mut Option<Pin<Box<tokio::time::Sleep>>>, cx: &mut Context<'_>) -> Poll<()> {
    let due = tokio::time::Instant::now() + FLUSH_INTERVAL;
    let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
    std::task::ready!(t.as_mut().poll(cx));
    *timer = None;
    Poll::Ready(())
}

/// Attaches the changelog and starts reading it back, if the store has one.
fn start_restore<K, T, A, St: WindowStore<K, T, A>>(store: &mut St, env: &TaskEnv, names: &WindowNames) -> Restoring {
    let on_disk = store.on_disk();
    Restoring::start(env, &names.store, names.changelog.as_deref(), on_disk, |log| {
        store.attach(log)
    })
    .unwrap_or_else(|reason| {
        fail(env, names, reason);
        Restoring::Done
    })
}

/// Loads what was restored, then emits what it closes.
fn finish_restore<K, T, A, St: WindowStore<K, T, A>>(
    restored: Restored,
    store: &mut St,
    agg: &mut Aggregator<T, A>,
    out: &mut VecDeque<Event<WindowResult<K, A>>>,
    stream_time: &mut Timestamp,
    env: &TaskEnv,
    names: &WindowNames,
) -> std::result::Result<(), String> {
    let (records, took, slots) = (restored.records, restored.took, restored.entries.len());
    let mut restored = restored;
    if let Some(log) = store.changelog() {
        log.attach_disk(restored.disk.take());
    }
    if let Some(t) = restored.stream_time {
        *stream_time = (*stream_time).max(t);
    }
    let mut again = store.restore(restored, agg, out)?;
    again += store.close(*stream_time, agg, out);
    metrics::state_restore_records(env.name(), &names.store).increment(records);
    metrics::state_restore_seconds(env.name(), &names.store).record(took.as_secs_f64());
    metrics::window_reemitted(env.name()).increment(again as u64);
    tracing::info!(
        processor = %env.name(),
        store = %names.store,
        partition = env.partition().map_or(-1, |p| p.0),
        records,
        slots,
        reemitted = again,
        stream_time = *stream_time,
        seconds = took.as_secs_f64(),
        "restored window state"
    );
    Ok(())
}

/// Stops the app: the store cannot go on.
fn fail(env: &TaskEnv, names: &WindowNames, reason: &str) {
    let message = format!("processor `{}` window store `{}`: {reason}", env.name(), names.store);
    env.recovery().stop(crate::error::Fatal::new(message));
}

fn route_late<K, T>(env: &TaskEnv, route: &LateTopic<T>, late: Entry<K, T>) -> Option<BoxFuture<'static, Result<()>>> {
    let Some(producer) = env.producer() else {
        drop(late.ack);
        return None;
    };
    match (route.encode)(&late.value) {
        Ok(value) => {
            let out = OutRecord {
                topic: route.topic.clone(),
                partition: None,
                key: late.key_bytes,
                value,
                headers: Default::default(),
                timestamp: Some(late.meta.timestamp),
            };
            Some(producer.send(out, late.ack))
        }
        Err(e) => {
            let record = crate::record::Record {
                key: late.key_bytes,
                value: (),
                headers: Default::default(),
                meta: late.meta,
            };
            Some(env.recovery().reject(record, late.ack, ErrorKind::Serialization, &e))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::stream::BoxStream;
    use futures::StreamExt;

    use super::super::{Tumbling, WindowKind};
    use super::*;
    use crate::flow::StateAccess;
    use crate::policy::recovery::Recovery;
    use crate::record::{Offset, Partition, RawRecord, TopicPartition};
    use crate::telemetry::Health;
    use crate::transport::memory::MemoryBroker;
    use crate::transport::{PartitionReader, Transport};

    /// A changelog that never reaches its end.
    struct Endless;

    impl PartitionReader for Endless {
        fn read(&self, _: TopicPartition, _: Offset, _: bool) -> BoxStream<'static, Result<RawRecord>> {
            futures::stream::pending().boxed()
        }
    }

    #[tokio::test]
    async fn the_app_is_not_ready_while_a_window_store_restores() {
        let broker = MemoryBroker::new();
        broker.create_topic("c", 1).unwrap();
        let health = Health::default();
        let access = StateAccess {
            reader: Arc::new(Endless),
            committed_only: false,
            health: health.clone(),
            markers: broker.producer().unwrap(),
            holds: None,
            dir: None,
            cache: 10,
        };
        let env = TaskEnv::with_state(
            Some(Partition(0)),
            Some(broker.producer().unwrap()),
            Recovery::detached(),
            Some(access),
        );
        let kind = Tumbling::of(Duration::from_secs(10));
        let store = <Tumbling as WindowKind<String, u64>>::store::<u64>(&kind);
        let agg = Aggregator {
            init: Box::new(|| 0u64),
            fold: Box::new(|n: &mut u64, _: u64| *n += 1),
            snapshot: None,
        };
        let names = WindowNames {
            store: "window".into(),
            changelog: Some("c".into()),
            trusted: Vec::new(),
        };
        let upstream = futures::stream::pending::<Event<(String, u64)>>();
        let mut op = Box::pin(WindowAggregate::new(upstream, store, agg, None, None, names, &env));
        assert!(health.is_ready(), "{:?}", health.why_not_ready());
        let polled = tokio::time::timeout(Duration::from_millis(200), op.next()).await;
        assert!(polled.is_err(), "the restore never ends, so nothing comes out");
        let why = health.why_not_ready().expect("not ready while restoring");
        assert!(why.contains("restoring state"), "{why}");
        drop(op);
        assert!(
            health.is_ready(),
            "a task dropped mid-restore leaves readiness: {:?}",
            health.why_not_ready()
        );
    }
}
