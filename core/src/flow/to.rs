use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::Stream;
use pin_project_lite::pin_project;

use super::{Event, FlowCtx, Msg};
use crate::codec::{Encode, Sent};
use crate::error::{ErrorKind, Result};
use crate::policy::rejections::ProduceRejections;
use crate::transport::{OutRecord, Rejected};

pin_project! {
    /// Stream for [`super::Flow::to`]: writes each record, yields only ticks.
    #[must_use = "streams do nothing unless polled"]
    pub struct To<S, C> {
        #[pin]
        stream: S,
        topic: Arc<str>,
        codec: C,
        ctx: FlowCtx,
        sending: Option<BoxFuture<'static, Result<()>>>,
        // The codec's preparation for this topic (a schema registration): awaited once,
        // before the first record.
        preparing: Option<BoxFuture<'static, Result<()>>>,
        prepared: bool,
        out: metrics::Counter,
        rejected: Option<Arc<dyn Rejected>>,
    }
}

impl<S, C> To<S, C> {
    pub(crate) fn new(stream: S, topic: &str, codec: C, ctx: &FlowCtx) -> Self {
        To {
            stream,
            topic: Arc::from(topic),
            codec,
            ctx: ctx.clone(),
            sending: None,
            preparing: None,
            prepared: false,
            out: crate::runtime::metrics::records_out(ctx.name(), topic),
            rejected: ProduceRejections::for_task(ctx),
        }
    }
}

/// Encodes and queues one record on the context's producer; encoding errors go to the
/// serialization policy, records the producer rejects for good to `rejected` (the produce
/// policy). Returns the queueing future, if the record was handed to the producer.
pub(crate) fn send_record<T, C: Encode<T>>(
    ctx: &FlowCtx,
    topic: &Arc<str>,
    codec: &C,
    msg: Msg<T>,
    out: &metrics::Counter,
    rejected: &Option<Arc<dyn Rejected>>,
) -> Option<BoxFuture<'static, Result<()>>> {
    let Msg { record, ack } = msg;
    let Some(producer) = ctx.producer() else {
        ack.fail(&format!(
            "cannot write to `{topic}`: this flow is not running in an app"
        ));
        ctx.0.failed.store(true, std::sync::atomic::Ordering::Relaxed);
        return None;
    };
    match codec.encode_to(topic, &record.value) {
        Ok(value) => {
            let record_out = OutRecord {
                topic: topic.clone(),
                partition: None,
                key: record.key,
                value,
                headers: record.headers,
                timestamp: Some(record.meta.timestamp),
            };
            out.increment(1);
            Some(match rejected {
                Some(rejected) => producer.send_or_reject(record_out, ack, rejected),
                None => producer.send(record_out, ack),
            })
        }
        Err(e) => Some(ctx.reject(record, ack, ErrorKind::Serialization, &e)),
    }
}

/// Polls a queueing future (an output, dead-letter or retry write); a failure is reported
/// to the app (the producer already failed the record's ack, so nothing past it commits).
pub(crate) fn poll_sending(
    sending: &mut Option<BoxFuture<'static, Result<()>>>,
    ctx: &FlowCtx,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if let Some(fut) = sending.as_mut() {
        let result = std::task::ready!(fut.as_mut().poll(cx));
        *sending = None;
        if let (Err(e), Some(fatal)) = (result, &ctx.0.fatal) {
            fatal.report(e.to_string());
        }
    }
    Poll::Ready(())
}

impl<S, C, T> Stream for To<S, C>
where
    S: Stream<Item = Event<T>>,
    C: Encode<T>,
{
    type Item = Event<Sent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<Sent>>> {
        let mut this = self.project();
        if !*this.prepared {
            if this.preparing.is_none() {
                *this.preparing = this.codec.prepare(this.topic);
            }
            if let Some(fut) = this.preparing.as_mut() {
                let result = std::task::ready!(fut.as_mut().poll(cx));
                *this.preparing = None;
                if let Err(e) = result {
                    if let Some(fatal) = &this.ctx.0.fatal {
                        fatal.report(format!("cannot write to `{}`: {e}", this.topic));
                    }
                    return Poll::Ready(None);
                }
            }
            *this.prepared = true;
        }
        loop {
            std::task::ready!(poll_sending(this.sending, this.ctx, cx));
            match std::task::ready!(this.stream.as_mut().poll_next(cx)) {
                Some(Event::Msg(m)) => {
                    *this.sending = send_record(this.ctx, this.topic, this.codec, m, this.out, this.rejected)
                }
                Some(Event::Tick(t)) => return Poll::Ready(Some(Event::Tick(t))),
                None => return Poll::Ready(None),
            }
        }
    }
}
