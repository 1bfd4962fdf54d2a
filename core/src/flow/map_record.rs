use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use super::{Event, Msg};
use crate::record::Record;

pin_project! {
    /// Stream for [`super::Flow::map_record`].
    #[must_use = "streams do nothing unless polled"]
    pub struct MapRecord<S, F> {
        #[pin]
        stream: S,
        f: F,
    }
}

impl<S, F> MapRecord<S, F> {
    pub(crate) fn new(stream: S, f: F) -> Self {
        MapRecord { stream, f }
    }
}

impl<S, F, T, U> Stream for MapRecord<S, F>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(Record<T>) -> Record<U>,
{
    type Item = Event<U>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<U>>> {
        let this = self.project();
        Poll::Ready(match ready!(this.stream.poll_next(cx)) {
            Some(Event::Msg(m)) => Some(Event::Msg(Msg::new((this.f)(m.record), m.ack))),
            Some(Event::Tick(t)) => Some(Event::Tick(t)),
            None => None,
        })
    }
}
