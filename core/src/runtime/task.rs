//! Building blocks of partition tasks: tracked sources, decoding, panic-safe driving.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use futures::future::{ready, Either};
use futures::stream::{BoxStream, Stream, StreamExt};
use futures::FutureExt;

use super::pauses::Gates;
use crate::ack::{OffsetTracker, TrackerHandle};
use crate::codec::{decode_fetching, Decode};
pub(crate) use crate::error::panic_message;
use crate::error::ErrorKind;
use crate::flow::RawMsg;
use crate::flow::{Event, FlowCtx, Msg};
use crate::transport::AssignedPartition;

/// How many records a source yields in a row before letting other tasks run.
const BUDGET: u32 = 512;

/// Registers every record of an assigned partition with a fresh tracker, counting them in
/// `records_in`.
/// The source waits while `gates` hold it (a paused partition or topic).
pub(crate) fn tracked(
    part: AssignedPartition,
    records_in: metrics::Counter,
    gates: Gates,
) -> (TrackerHandle, BoxStream<'static, RawMsg>) {
    let mut tracker = OffsetTracker::new(part.partition);
    let handle = tracker.handle();
    let stream = cooperative(part.records, gates).map(move |record| {
        records_in.increment(1);
        let ack = tracker.track(record.meta.offset);
        Msg::new(record, ack)
    });
    (handle, stream.boxed())
}

/// Yields to the scheduler every [`BUDGET`] ready items, so one busy partition cannot
/// starve the others (or the committer) on the same thread; takes nothing while paused.
fn cooperative<S: Stream + Send + Unpin + 'static>(mut inner: S, gates: Gates) -> impl Stream<Item = S::Item> + Send {
    let mut run = 0u32;
    futures::stream::poll_fn(move |cx| {
        if gates.holds(cx) {
            return Poll::Pending;
        }
        if run >= BUDGET {
            run = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let item = inner.poll_next_unpin(cx);
        run = if item.is_ready() { run + 1 } else { 0 };
        item
    })
}

/// Decodes each record's value; failures are retried and recovered as the
/// deserialization policy says.
pub(crate) fn decoded<T>(
    source: BoxStream<'static, RawMsg>,
    codec: Arc<dyn Decode<T>>,
    ctx: FlowCtx,
) -> BoxStream<'static, Event<T>>
where
    T: Send + 'static,
{
    source
        .filter_map(move |Msg { record, ack }| match codec.decode(record.value.as_deref()) {
            Ok(value) => Either::Left(ready(Some(Event::Msg(Msg::new(record.map_value(|_| value), ack))))),
            Err(e) => {
                let (ctx, codec) = (ctx.clone(), codec.clone());
                Either::Right(
                    async move {
                        let data = record.value.as_deref();
                        let retried = match e.transient {
                            true => decode_fetching(&*codec, data).await,
                            false => Err(e),
                        };
                        let retried = match retried {
                            Ok(v) => Ok(v),
                            Err(e) => {
                                ctx.retry_after(ErrorKind::Deserialization, e, || decode_fetching(&*codec, data))
                                    .await
                            }
                        };
                        match retried {
                            Ok(value) => Some(Event::Msg(Msg::new(record.map_value(|_| value), ack))),
                            Err(failure) => {
                                let result = ctx.recover(record, ack, failure).await;
                                ctx.report(result);
                                None
                            }
                        }
                    }
                    .boxed(),
                )
            }
        })
        .boxed()
}

/// Runs `fut`, catching a panic inside it. On a panic the trackers are sealed *before*
/// the future (and the acks it holds) is dropped, so nothing unfinished commits.
pub(crate) async fn guarded<F: Future>(fut: F, trackers: &[TrackerHandle]) -> Result<F::Output, String> {
    let mut fut = pin!(fut);
    let result = std::future::poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
        Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(panic_message(&*panic))),
    })
    .await;
    if result.is_err() {
        trackers.iter().for_each(|t| {
            t.seal();
        });
    }
    result
}
