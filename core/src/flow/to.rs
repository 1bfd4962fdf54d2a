use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::Stream;
use pin_project_lite::pin_project;

use super::env::TaskEnv;
use super::sink::{poll_sending, Sink};
use crate::codec::{Encode, Sent};
use crate::error::Fatal;
use crate::error::Result;
use crate::event::Event;

pin_project! {
    /// Stream for [`super::Flow::to`]: writes each record, yields only ticks.
    #[must_use = "streams do nothing unless polled"]
    pub(crate) struct To<S, C> {
        #[pin]
        stream: S,
        sink: Sink,
        codec: C,
        env: TaskEnv,
        sending: Option<BoxFuture<'static, Result<()>>>,
        // The codec's preparation for this topic (a schema registration): awaited once,
        // before the first record.
        preparing: Option<BoxFuture<'static, Result<()>>>,
        prepared: bool,
    }
}

impl<S, C> To<S, C> {
    pub(crate) fn new(stream: S, sink: Sink, codec: C, env: &TaskEnv) -> Self {
        To {
            stream,
            sink,
            codec,
            env: env.clone(),
            sending: None,
            preparing: None,
            prepared: false,
        }
    }
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
                *this.preparing = this.codec.prepare(this.sink.topic());
            }
            if let Some(fut) = this.preparing.as_mut() {
                let result = std::task::ready!(fut.as_mut().poll(cx));
                *this.preparing = None;
                if let Err(e) = result {
                    let reason = format!("cannot write to `{}`: {e}", this.sink.topic());
                    this.env.recovery().stop(Fatal::new(reason));
                    return Poll::Ready(None);
                }
            }
            *this.prepared = true;
        }
        loop {
            std::task::ready!(poll_sending(this.sending, this.env, cx));
            match std::task::ready!(this.stream.as_mut().poll_next(cx)) {
                Some(Event::Msg(m)) => *this.sending = this.sink.send(this.codec, m),
                Some(Event::Tick(t)) => return Poll::Ready(Some(Event::Tick(t))),
                None => return Poll::Ready(None),
            }
        }
    }
}
