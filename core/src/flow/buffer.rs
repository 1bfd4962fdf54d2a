//! `buffer(n)`: the upstream runs ahead of the downstream, up to `n` records.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Future, Stream, StreamExt};

use crate::event::Event;

/// The downstream side of [`crate::Flow::buffer`]: records the upstream task produced,
/// in order. Dropping it stops the upstream task.
pub(crate) struct Buffered<T> {
    rx: tokio::sync::mpsc::Receiver<Event<T>>,
    upstream: Option<tokio::task::JoinHandle<()>>,
}

/// Runs `upstream` as its own tokio task feeding a channel of `n` records (in place,
/// without prefetching, outside a tokio runtime).
pub(crate) fn buffered<T: Send + 'static>(
    mut upstream: BoxStream<'static, Event<T>>,
    n: usize,
) -> BoxStream<'static, Event<T>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return upstream;
    }
    let (tx, rx) = tokio::sync::mpsc::channel(n.max(1));
    let task = tokio::spawn(async move {
        while let Some(event) = upstream.next().await {
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    Buffered {
        rx,
        upstream: Some(task),
    }
    .boxed()
}

impl<T> Stream for Buffered<T> {
    type Item = Event<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(event) = std::task::ready!(self.rx.poll_recv(cx)) {
            return Poll::Ready(Some(event));
        }
        // The upstream ended: by itself, or by a panic, which goes on here (on the task
        // that owns the pipeline, whose panic handling stops the app).
        let Some(task) = self.upstream.as_mut() else {
            return Poll::Ready(None);
        };
        let ended = std::task::ready!(Pin::new(task).poll(cx));
        self.upstream = None;
        if let Err(e) = ended {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        Poll::Ready(None)
    }
}

impl<T> Drop for Buffered<T> {
    fn drop(&mut self) {
        if let Some(task) = self.upstream.take() {
            task.abort();
        }
    }
}
