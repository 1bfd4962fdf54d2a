//! How many records of an assigned partition wait for their task.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The number of records a transport fetched for an assigned partition that its task has
/// not taken yet. The runtime reads it to tell a stalled partition (records waiting, no
/// progress) from an idle one.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use kflow_core::transport::Backlog;
/// let waiting = Arc::new(AtomicUsize::new(0));
/// let backlog = Backlog::counter(waiting.clone());
/// waiting.store(3, Ordering::Relaxed);
/// assert_eq!(backlog.get(), 3);
/// assert_eq!(Backlog::unknown().get(), 0);
/// ```
#[derive(Clone)]
pub struct Backlog(Arc<dyn Fn() -> usize + Send + Sync>);

impl Backlog {
    /// A backlog read from a counter the transport keeps.
    pub fn counter(count: Arc<AtomicUsize>) -> Self {
        Backlog(Arc::new(move || count.load(Ordering::Relaxed)))
    }

    /// A backlog computed on demand.
    pub fn computed(f: impl Fn() -> usize + Send + Sync + 'static) -> Self {
        Backlog(Arc::new(f))
    }

    /// A transport that cannot tell: always 0 (its partitions are never called stalled).
    pub fn unknown() -> Self {
        Backlog(Arc::new(|| 0))
    }

    /// Records waiting now.
    pub fn get(&self) -> usize {
        (self.0)()
    }
}

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Backlog").field(&self.get()).finish()
    }
}
