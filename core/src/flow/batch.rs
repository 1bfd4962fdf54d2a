use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Future, Stream};
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::{Event, Msg};
use crate::ack::Ack;
use crate::record::Record;

pin_project! {
    /// Stream for [`super::Flow::batch`].
    #[must_use = "streams do nothing unless polled"]
    pub struct Batch<S, T> {
        #[pin]
        stream: S,
        size: usize,
        timeout: Duration,
        values: Vec<T>,
        acks: Vec<Ack>,
        last: Option<Record<()>>,
        deadline: Option<Pin<Box<Sleep>>>,
        done: bool,
    }
}

impl<S, T> Batch<S, T> {
    pub(crate) fn new(stream: S, size: usize, timeout: Duration) -> Self {
        let size = size.max(1);
        Batch {
            stream,
            size,
            timeout,
            values: Vec::with_capacity(size),
            acks: Vec::with_capacity(size),
            last: None,
            deadline: None,
            done: false,
        }
    }
}

fn take_batch<T>(
    values: &mut Vec<T>,
    acks: &mut Vec<Ack>,
    last: &mut Option<Record<()>>,
    size: usize,
) -> Event<Vec<T>> {
    let values = std::mem::replace(values, Vec::with_capacity(size));
    let ack = Ack::merge(std::mem::replace(acks, Vec::with_capacity(size)));
    let record = last.take().expect("a batch has a last record").map_value(|()| values);
    Event::Msg(Msg::new(record, ack))
}

impl<S, T> Stream for Batch<S, T>
where
    S: Stream<Item = Event<T>>,
{
    type Item = Event<Vec<T>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        while !*this.done {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Event::Msg(Msg { record, ack }))) => {
                    let (value, rest) = record.split();
                    if this.values.is_empty() {
                        *this.deadline = Some(Box::pin(tokio::time::sleep(*this.timeout)));
                    }
                    this.values.push(value);
                    this.acks.push(ack);
                    *this.last = Some(rest);
                    if this.values.len() >= *this.size {
                        *this.deadline = None;
                        return Poll::Ready(Some(take_batch(this.values, this.acks, this.last, *this.size)));
                    }
                }
                Poll::Ready(Some(Event::Tick(t))) => return Poll::Ready(Some(Event::Tick(t))),
                Poll::Ready(None) => *this.done = true,
                Poll::Pending => break,
            }
        }
        if this.values.is_empty() {
            return if *this.done { Poll::Ready(None) } else { Poll::Pending };
        }
        let timed_out = this.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready());
        if *this.done || timed_out {
            *this.deadline = None;
            return Poll::Ready(Some(take_batch(this.values, this.acks, this.last, *this.size)));
        }
        Poll::Pending
    }
}
