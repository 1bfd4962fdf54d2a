use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt};
use pin_project_lite::pin_project;

use super::{Event, Msg};
use crate::ack::Ack;
use crate::record::Record;

pin_project! {
    /// One slot of [`Then`]: a running call with its record, or a tick waiting its turn.
    #[project = JobProj]
    pub enum Job<Fut> {
        /// A call of the user's function.
        Call { #[pin] fut: Fut, template: Option<(Record<()>, Ack)> },
        /// A tick, emitted in order.
        Tick { ts: Option<i64> },
    }
}

impl<Fut: Future> Future for Job<Fut> {
    type Output = Event<Fut::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            JobProj::Call { fut, template } => {
                let value = std::task::ready!(fut.poll(cx));
                let (record, ack) = template.take().expect("polled after completion");
                Poll::Ready(Event::Msg(Msg::new(record.map_value(|()| value), ack)))
            }
            JobProj::Tick { ts } => Poll::Ready(Event::Tick(ts.take().expect("polled after completion"))),
        }
    }
}

pin_project! {
    /// Stream for [`super::Flow::then`].
    #[must_use = "streams do nothing unless polled"]
    pub struct Then<S, F, Fut>
    where
        Fut: Future,
    {
        #[pin]
        stream: S,
        f: F,
        running: FuturesOrdered<Job<Fut>>,
        limit: usize,
        done: bool,
    }
}

impl<S, F, Fut: Future> Then<S, F, Fut> {
    pub(crate) fn new(stream: S, limit: usize, f: F) -> Self {
        Then {
            stream,
            f,
            running: FuturesOrdered::new(),
            limit: limit.max(1),
            done: false,
        }
    }
}

impl<S, F, T, Fut> Stream for Then<S, F, Fut>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(T) -> Fut,
    Fut: Future,
{
    type Item = Event<Fut::Output>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        while !*this.done && this.running.len() < *this.limit {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Event::Msg(Msg { record, ack }))) => {
                    let (value, template) = record.split();
                    let fut = (this.f)(value);
                    this.running.push_back(Job::Call {
                        fut,
                        template: Some((template, ack)),
                    });
                }
                Poll::Ready(Some(Event::Tick(ts))) => this.running.push_back(Job::Tick { ts: Some(ts) }),
                Poll::Ready(None) => *this.done = true,
                Poll::Pending => break,
            }
        }
        match this.running.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Ready(None) if *this.done => Poll::Ready(None),
            _ => Poll::Pending,
        }
    }
}
