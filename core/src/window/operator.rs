use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Future, Stream};
use pin_project_lite::pin_project;

use super::store::{Aggregator, Entry, WindowStore};
use super::WindowResult;
use crate::codec::EncodeError;
use crate::error::{ErrorKind, Result};
use crate::event::{Event, Msg};
use crate::flow::{poll_sending, TaskEnv};
use crate::record::Timestamp;
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

pin_project! {
    /// Stream for [`super::Windowed::aggregate`]: keeps stream time, assigns records to
    /// windows, emits closed windows and routes late records.
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
        env: TaskEnv,
        sending: Option<BoxFuture<'static, Result<()>>>,
        idle: Option<IdleAdvance>,
        done: bool,
    }
}

impl<S, St, K, T, A> WindowAggregate<S, St, K, T, A> {
    pub(crate) fn new(
        upstream: S,
        store: St,
        agg: Aggregator<T, A>,
        late: Option<LateTopic<T>>,
        idle: Option<IdleAdvance>,
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
            env: env.clone(),
            sending: None,
            idle,
            done: false,
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
            std::task::ready!(poll_sending(this.sending, this.env, cx));
            let next = match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(next) => next,
                Poll::Pending => {
                    // A quiet task: with idle advance, the wall clock moves stream time.
                    match this.idle.as_mut().and_then(|idle| idle.poll_due(cx)) {
                        Some(t) if t > *this.stream_time => {
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
                    let ts = record.meta.timestamp;
                    *this.stream_time = (*this.stream_time).max(ts);
                    if let Some(idle) = this.idle.as_mut() {
                        idle.record_arrived(*this.stream_time);
                    }
                    let (key, value) = record.value;
                    let entry = Entry {
                        key,
                        key_bytes: record.key,
                        value,
                        meta: record.meta,
                        ack,
                    };
                    if let Err(late) = this.store.insert(entry, *this.stream_time, this.agg, this.out) {
                        this.late_count.incr();
                        this.late_metric.increment(1);
                        if let Some(route) = this.late.as_ref() {
                            *this.sending = route_late(this.env, route, late);
                        }
                    }
                    this.store.close(*this.stream_time, this.agg, this.out);
                }
                Some(Event::Tick(t)) => {
                    *this.stream_time = (*this.stream_time).max(t);
                    this.store.close(*this.stream_time, this.agg, this.out);
                    this.out.push_back(Event::Tick(t));
                }
                // Open windows are not emitted at the end of input: their acks stay held,
                // so their records are replayed into them after a restart.
                None => *this.done = true,
            }
        }
    }
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
