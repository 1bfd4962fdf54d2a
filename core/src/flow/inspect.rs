use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use super::Event;

pin_project! {
    /// Stream for [`super::Flow::inspect`].
    #[must_use = "streams do nothing unless polled"]
    pub struct Inspect<S, F> {
        #[pin]
        stream: S,
        f: F,
    }
}

impl<S, F> Inspect<S, F> {
    pub(crate) fn new(stream: S, f: F) -> Self {
        Inspect { stream, f }
    }
}

impl<S, F, T> Stream for Inspect<S, F>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(&T),
{
    type Item = Event<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        let this = self.project();
        let item = ready!(this.stream.poll_next(cx));
        if let Some(Event::Msg(m)) = &item {
            (this.f)(&m.record.value);
        }
        Poll::Ready(item)
    }
}
