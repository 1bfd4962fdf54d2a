//! Driving a partition task so that a panic inside it never commits unfinished work.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;

use crate::ack::TrackerHandle;
pub(crate) use crate::error::panic_message;

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
