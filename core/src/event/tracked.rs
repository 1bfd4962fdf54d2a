//! Tracked sources: every record an assigned partition yields is registered with the
//! partition's [`OffsetTracker`] and travels on with its [`Ack`](crate::ack::Ack).
//!
//! The source also yields to the scheduler every [`BUDGET`] records, so one busy
//! partition cannot starve the others (or the committer) on the same thread, and takes
//! nothing while a [`Hold`] holds it (a paused partition or topic, an exactly-once
//! commit waiting for in-flight records).

use std::task::{Context, Poll};

use futures::stream::{BoxStream, Stream, StreamExt};

use super::{Msg, RawMsg};
use crate::ack::{OffsetTracker, TrackerHandle};
use crate::record::{RawRecord, TopicPartition};

/// How many records a source yields in a row before letting other tasks run.
pub const BUDGET: u32 = 512;

/// Something that can hold a source: while [`Hold::holds`] is true it takes no record.
pub trait Hold: Send + Sync + 'static {
    /// True while the source must wait; registers `cx`'s waker to hear when that ends.
    fn holds(&self, cx: &mut Context<'_>) -> bool;
}

/// Never holds.
impl Hold for () {
    fn holds(&self, _: &mut Context<'_>) -> bool {
        false
    }
}

/// Registers every record of `records` (one partition's, in offset order) with a fresh
/// tracker, counting them in `records_in`; returns the tracker's handle and the records
/// with their acks.
///
/// ```
/// use futures::StreamExt;
/// use kflow_core::event::tracked;
/// use kflow_core::{Offset, Record, TopicPartition};
/// let records = futures::stream::iter((0..3).map(|o| {
///     let mut r = Record::new(None);
///     r.meta.offset = Offset(o);
///     r
/// }));
/// let (handle, msgs) = tracked(TopicPartition::new("t", 0), records.boxed(), metrics::Counter::noop(), ());
/// let msgs: Vec<_> = futures::executor::block_on(msgs.collect());
/// assert_eq!(handle.frontier(), Some(Offset(0)), "three records in flight");
/// drop(msgs);
/// assert_eq!(handle.frontier(), Some(Offset(3)));
/// ```
pub fn tracked(
    partition: TopicPartition,
    records: BoxStream<'static, RawRecord>,
    records_in: metrics::Counter,
    hold: impl Hold,
) -> (TrackerHandle, BoxStream<'static, RawMsg>) {
    let mut tracker = OffsetTracker::new(partition);
    let handle = tracker.handle();
    let stream = cooperative(records, hold).map(move |record| {
        records_in.increment(1);
        let ack = tracker.track(record.meta.offset);
        Msg::new(record, ack)
    });
    (handle, stream.boxed())
}

/// Yields to the scheduler every [`BUDGET`] ready items; takes nothing while held.
fn cooperative<S: Stream + Send + Unpin + 'static>(
    mut inner: S,
    hold: impl Hold,
) -> impl Stream<Item = S::Item> + Send {
    let mut run = 0u32;
    futures::stream::poll_fn(move |cx| {
        if hold.holds(cx) {
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
