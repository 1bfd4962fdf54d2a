use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use super::Event;

pin_project! {
    /// Stream for [`super::Flow::map`].
    #[must_use = "streams do nothing unless polled"]
    pub struct Map<S, F> {
        #[pin]
        stream: S,
        f: F,
    }
}

impl<S, F> Map<S, F> {
    pub(crate) fn new(stream: S, f: F) -> Self {
        Map { stream, f }
    }
}

impl<S, F, T, U> Stream for Map<S, F>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(T) -> U,
{
    type Item = Event<U>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<U>>> {
        let this = self.project();
        Poll::Ready(match ready!(this.stream.poll_next(cx)) {
            Some(Event::Msg(m)) => Some(Event::Msg(m.map_value(this.f))),
            Some(Event::Tick(t)) => Some(Event::Tick(t)),
            None => None,
        })
    }
}
