use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use super::Event;
use crate::key::GroupKey;

pin_project! {
    /// Stream for [`super::Flow::key_by`].
    #[must_use = "streams do nothing unless polled"]
    pub struct KeyBy<S, F> {
        #[pin]
        stream: S,
        f: F,
    }
}

impl<S, F> KeyBy<S, F> {
    pub(crate) fn new(stream: S, f: F) -> Self {
        KeyBy { stream, f }
    }
}

impl<S, F, T, K> Stream for KeyBy<S, F>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(&T) -> K,
    K: GroupKey,
{
    type Item = Event<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        let this = self.project();
        let mut item = ready!(this.stream.poll_next(cx));
        if let Some(Event::Msg(m)) = &mut item {
            m.record.key = Some((this.f)(&m.record.value).to_key_bytes());
        }
        Poll::Ready(item)
    }
}
