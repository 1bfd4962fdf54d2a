use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use super::{Event, Msg};
use crate::telemetry::DropCounter;

pin_project! {
    /// Stream for [`super::Flow::filter_map`].
    #[must_use = "streams do nothing unless polled"]
    pub struct FilterMap<S, F> {
        #[pin]
        stream: S,
        f: F,
        dropped: DropCounter,
    }
}

impl<S, F> FilterMap<S, F> {
    pub(crate) fn new(stream: S, f: F, dropped: DropCounter) -> Self {
        FilterMap { stream, f, dropped }
    }
}

impl<S, F, T, U> Stream for FilterMap<S, F>
where
    S: Stream<Item = Event<T>>,
    F: FnMut(T) -> Option<U>,
{
    type Item = Event<U>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<U>>> {
        let mut this = self.project();
        loop {
            match ready!(this.stream.as_mut().poll_next(cx)) {
                Some(Event::Msg(Msg { record, ack })) => {
                    let (value, rest) = record.split();
                    match (this.f)(value) {
                        Some(v) => return Poll::Ready(Some(Event::Msg(Msg::new(rest.map_value(|()| v), ack)))),
                        None => {
                            drop(ack);
                            this.dropped.incr();
                        }
                    }
                }
                Some(Event::Tick(t)) => return Poll::Ready(Some(Event::Tick(t))),
                None => return Poll::Ready(None),
            }
        }
    }
}
