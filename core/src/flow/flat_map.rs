use std::iter::Peekable;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use super::{Event, Msg};
use crate::ack::Ack;
use crate::record::Record;
use crate::telemetry::DropCounter;

/// The input record an iterator's outputs are cut from.
struct Pending<I: Iterator> {
    outputs: Peekable<I>,
    template: Record<()>,
    ack: Ack,
}

pin_project! {
    /// Stream for [`super::Flow::flat_map`].
    #[must_use = "streams do nothing unless polled"]
    pub struct FlatMap<S, F, I: Iterator> {
        #[pin]
        stream: S,
        f: F,
        pending: Option<Pending<I>>,
        dropped: DropCounter,
    }
}

impl<S, F, I: Iterator> FlatMap<S, F, I> {
    pub(crate) fn new(stream: S, f: F, dropped: DropCounter) -> Self {
        FlatMap {
            stream,
            f,
            pending: None,
            dropped,
        }
    }
}

impl<S, F, T, U, II> Stream for FlatMap<S, F, II::IntoIter>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(T) -> II,
    II: IntoIterator<Item = U>,
{
    type Item = Event<U>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<U>>> {
        let mut this = self.project();
        loop {
            if let Some(p) = this.pending.as_mut() {
                if let Some(value) = p.outputs.next() {
                    // The last output takes the ack itself; earlier ones share it.
                    let (record, ack) = if p.outputs.peek().is_none() {
                        let p = this.pending.take().expect("pending");
                        (p.template.map_value(|()| value), p.ack)
                    } else {
                        (p.template.clone().map_value(|()| value), p.ack.share())
                    };
                    return Poll::Ready(Some(Event::Msg(Msg::new(record, ack))));
                }
                // No output at all: the record was consumed without a result.
                *this.pending = None;
                this.dropped.incr();
            }
            match ready!(this.stream.as_mut().poll_next(cx)) {
                Some(Event::Msg(Msg { record, ack })) => {
                    let (value, template) = record.split();
                    let outputs = (this.f)(value).into_iter().peekable();
                    *this.pending = Some(Pending { outputs, template, ack });
                }
                Some(Event::Tick(t)) => return Poll::Ready(Some(Event::Tick(t))),
                None => return Poll::Ready(None),
            }
        }
    }
}
