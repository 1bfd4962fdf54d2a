use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use pin_project_lite::pin_project;

use super::Event;

pin_project! {
    /// Stream for [`super::Flow::merge`]: polls both sides in turn, ends when both have.
    #[must_use = "streams do nothing unless polled"]
    pub struct Merge<A, B> {
        #[pin]
        a: A,
        #[pin]
        b: B,
        a_done: bool,
        b_done: bool,
        b_first: bool,
    }
}

impl<A, B> Merge<A, B> {
    pub(crate) fn new(a: A, b: B) -> Self {
        Merge {
            a,
            b,
            a_done: false,
            b_done: false,
            b_first: false,
        }
    }
}

impl<A, B, T> Stream for Merge<A, B>
where
    A: Stream<Item = Event<T>>,
    B: Stream<Item = Event<T>>,
{
    type Item = Event<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        let mut this = self.project();
        *this.b_first = !*this.b_first;
        for side in 0..2 {
            let poll_b = (side == 0) == *this.b_first;
            let (done, polled) = if poll_b {
                if *this.b_done {
                    continue;
                }
                (&mut *this.b_done, this.b.as_mut().poll_next(cx))
            } else {
                if *this.a_done {
                    continue;
                }
                (&mut *this.a_done, this.a.as_mut().poll_next(cx))
            };
            match polled {
                Poll::Ready(Some(item)) => return Poll::Ready(Some(item)),
                Poll::Ready(None) => *done = true,
                Poll::Pending => {}
            }
        }
        if *this.a_done && *this.b_done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}
