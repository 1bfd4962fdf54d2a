use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use super::Event;
use crate::record::Timestamp;

pin_project! {
    /// Stream for [`super::Flow::with_timestamp`].
    #[must_use = "streams do nothing unless polled"]
    pub struct WithTimestamp<S, F> {
        #[pin]
        stream: S,
        f: F,
    }
}

impl<S, F> WithTimestamp<S, F> {
    pub(crate) fn new(stream: S, f: F) -> Self {
        WithTimestamp { stream, f }
    }
}

impl<S, F, T> Stream for WithTimestamp<S, F>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(&T) -> Timestamp,
{
    type Item = Event<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        let this = self.project();
        let mut item = ready!(this.stream.poll_next(cx));
        if let Some(Event::Msg(m)) = &mut item {
            m.record.meta.timestamp = (this.f)(&m.record.value);
        }
        Poll::Ready(item)
    }
}
