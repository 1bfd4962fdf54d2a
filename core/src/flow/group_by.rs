use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::Stream;
use pin_project_lite::pin_project;
use serde::{de::DeserializeOwned, Serialize};

use super::build::Repartition;
use super::env::TaskEnv;
use super::origin::{OriginCounter, ORIGIN_HEADER};
use super::sink::{poll_sending, Sink};
use crate::codec::{Decode, Json};
use crate::error::{ErrorKind, Result};
use crate::event::{Event, Msg, RawMsg};
use crate::key::GroupKey;
use crate::policy::failure::Failure;
use crate::record::Record;

fn keyed<K, T>(record: Record<T>, key: K) -> Record<(K, T)> {
    record.map_value(|v| (key, v))
}

pin_project! {
    /// Stream for [`super::Flow::group_by`]: writes records to the repartition topic keyed
    /// by the new key, and yields what this task reads back from its partition of it.
    /// A detached flow (no producer) groups in place.
    #[must_use = "streams do nothing unless polled"]
    pub(crate) struct GroupBy<S, F, K, T> {
        #[pin]
        upstream: S,
        f: F,
        env: TaskEnv,
        sink: Sink,
        source: Option<BoxStream<'static, RawMsg>>,
        sending: Option<BoxFuture<'static, Result<()>>>,
        recovering: Option<BoxFuture<'static, Result<()>>>,
        upstream_done: bool,
        in_place: bool,
        poll_source_first: bool,
        origins: OriginCounter,
        _types: PhantomData<fn() -> (K, T)>,
    }
}

impl<S, F, K, T> GroupBy<S, F, K, T> {
    pub(crate) fn new(upstream: S, f: F, repartition: Repartition, env: &TaskEnv) -> Self {
        let sink = Sink::new(&repartition.topic, env);
        GroupBy {
            upstream,
            f,
            in_place: sink.is_detached(),
            env: env.clone(),
            sink,
            source: repartition.source,
            sending: None,
            recovering: None,
            upstream_done: false,
            poll_source_first: false,
            origins: OriginCounter::default(),
            _types: PhantomData,
        }
    }
}

impl<S, F, K, T> Stream for GroupBy<S, F, K, T>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(&T) -> K,
    K: GroupKey,
    T: Serialize + DeserializeOwned + 'static,
{
    type Item = Event<(K, T)>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        *this.poll_source_first = !*this.poll_source_first;
        if *this.poll_source_first {
            if let Poll::Ready(Some(item)) = poll_source(this.source, this.recovering, this.env, cx) {
                return Poll::Ready(Some(item));
            }
        }
        // Upstream: write to the repartition topic (or group in place when detached).
        while !*this.upstream_done {
            if poll_sending(this.sending, this.env, cx).is_pending() {
                break;
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Event::Msg(mut m))) => {
                    let key = (this.f)(&m.record.value);
                    m.record.key = Some(key.to_key_bytes());
                    if *this.in_place {
                        return Poll::Ready(Some(Event::Msg(Msg::new(keyed(m.record, key), m.ack))));
                    }
                    let header = ORIGIN_HEADER.as_bytes();
                    m.record.headers.retain(|name, _| name != header);
                    if let Some(origin) = this.origins.origin(&m.record.meta) {
                        m.record.headers.insert(header, origin.encode());
                    }
                    *this.sending = this.sink.send(&Json, m);
                }
                Poll::Ready(Some(Event::Tick(t))) => return Poll::Ready(Some(Event::Tick(t))),
                Poll::Ready(None) => *this.upstream_done = true,
                Poll::Pending => break,
            }
        }
        if !*this.poll_source_first {
            if let Poll::Ready(Some(item)) = poll_source(this.source, this.recovering, this.env, cx) {
                return Poll::Ready(Some(item));
            }
        }
        let sending_done = this.sending.is_none();
        if *this.upstream_done && sending_done && this.source.is_none() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

/// Reads this task's repartition partition: decodes key and value; failures go to the
/// deserialization policy (`recovering` holds its dead-letter write).
fn poll_source<K: GroupKey, T: DeserializeOwned + 'static>(
    source: &mut Option<BoxStream<'static, RawMsg>>,
    recovering: &mut Option<BoxFuture<'static, Result<()>>>,
    env: &TaskEnv,
    cx: &mut Context<'_>,
) -> Poll<Option<Event<(K, T)>>> {
    use futures::StreamExt;
    loop {
        std::task::ready!(poll_sending(recovering, env, cx));
        let Some(stream) = source.as_mut() else {
            return Poll::Ready(None);
        };
        match std::task::ready!(stream.poll_next_unpin(cx)) {
            Some(Msg { record, ack }) => {
                let key = record.key.as_deref().map(K::from_key_bytes);
                let value: std::result::Result<T, _> = Json.decode(record.value.as_deref());
                let error = match (key, value) {
                    (Some(Ok(key)), Ok(value)) => {
                        let record = keyed(record.map_value(|_| value), key);
                        return Poll::Ready(Some(Event::Msg(Msg::new(record, ack))));
                    }
                    (None, _) => "repartition record without a key".to_string(),
                    (Some(Err(e)), _) => e.to_string(),
                    (_, Err(e)) => e.to_string(),
                };
                let failure = Failure::once(ErrorKind::Deserialization, &error);
                *recovering = Some(env.recovery().recover(record, ack, failure));
            }
            None => {
                *source = None;
                return Poll::Ready(None);
            }
        }
    }
}

pin_project! {
    /// Stream for [`super::Flow::group_by_key`]: decodes the existing key.
    #[must_use = "streams do nothing unless polled"]
    pub(crate) struct GroupByKey<S, K> {
        #[pin]
        upstream: S,
        env: TaskEnv,
        sending: Option<BoxFuture<'static, Result<()>>>,
        _key: PhantomData<fn() -> K>,
    }
}

impl<S, K> GroupByKey<S, K> {
    pub(crate) fn new(upstream: S, env: &TaskEnv) -> Self {
        GroupByKey {
            upstream,
            env: env.clone(),
            sending: None,
            _key: PhantomData,
        }
    }
}

impl<S, K, T> Stream for GroupByKey<S, K>
where
    S: Stream<Item = Event<T>>,
    K: GroupKey,
{
    type Item = Event<(K, T)>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            std::task::ready!(poll_sending(this.sending, this.env, cx));
            match std::task::ready!(this.upstream.as_mut().poll_next(cx)) {
                Some(Event::Msg(Msg { record, ack })) => {
                    let key = match record.key.as_deref().map(K::from_key_bytes) {
                        Some(Ok(k)) => k,
                        Some(Err(e)) => {
                            let recovery = this.env.recovery();
                            *this.sending = Some(recovery.reject(record, ack, ErrorKind::Deserialization, &e));
                            continue;
                        }
                        None => {
                            let e = "record has no key to group by";
                            let recovery = this.env.recovery();
                            *this.sending = Some(recovery.reject(record, ack, ErrorKind::Deserialization, &e));
                            continue;
                        }
                    };
                    return Poll::Ready(Some(Event::Msg(Msg::new(keyed(record, key), ack))));
                }
                Some(Event::Tick(t)) => return Poll::Ready(Some(Event::Tick(t))),
                None => return Poll::Ready(None),
            }
        }
    }
}
