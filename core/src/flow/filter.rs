use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use super::Event;
use crate::telemetry::DropCounter;

pin_project! {
    /// Stream for [`super::Flow::filter`].
    #[must_use = "streams do nothing unless polled"]
    pub struct Filter<S, F> {
        #[pin]
        stream: S,
        f: F,
        dropped: DropCounter,
    }
}

impl<S, F> Filter<S, F> {
    pub(crate) fn new(stream: S, f: F, dropped: DropCounter) -> Self {
        Filter { stream, f, dropped }
    }
}

impl<S, F, T> Stream for Filter<S, F>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(&T) -> bool,
{
    type Item = Event<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        let mut this = self.project();
        loop {
            match ready!(this.stream.as_mut().poll_next(cx)) {
                Some(Event::Msg(m)) if !(this.f)(&m.record.value) => this.dropped.incr(),
                other => return Poll::Ready(other),
            }
        }
    }
}
