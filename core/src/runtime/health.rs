//! Liveness and readiness of a running app, and services that run beside it (such as the
//! metrics and health HTTP server of the `kflow` facade).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::Result;

/// What a health endpoint reports. Cheap to clone; the runtime updates it.
///
/// Live while the app runs. Ready once every listener and processor joined its consumer
/// group and received its assignment, while the last offset commit (if any) succeeded,
/// and until shutdown begins.
///
/// ```
/// use kflow_core::runtime::Health;
/// let h = Health::default();
/// assert!(h.is_live());
/// assert!(h.is_ready(), "nothing to wait for");
/// ```
#[derive(Clone, Default, Debug)]
pub struct Health(Arc<State>);

#[derive(Default, Debug)]
struct State {
    units: AtomicUsize,
    joined: AtomicUsize,
    commit_failing: AtomicBool,
    stopping: AtomicBool,
    stopped: AtomicBool,
}

impl Health {
    pub(crate) fn expect_units(&self, n: usize) {
        self.0.units.store(n, Ordering::Relaxed);
    }

    /// A member received its first assignment.
    pub(crate) fn joined(&self) {
        self.0.joined.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn commit_result(&self, ok: bool) {
        self.0.commit_failing.store(!ok, Ordering::Relaxed);
    }

    pub(crate) fn stopping(&self) {
        self.0.stopping.store(true, Ordering::Relaxed);
    }

    pub(crate) fn stopped(&self) {
        self.0.stopped.store(true, Ordering::Relaxed);
    }

    /// The app is running (not yet stopped).
    pub fn is_live(&self) -> bool {
        !self.0.stopped.load(Ordering::Relaxed)
    }

    /// See [`Health`].
    pub fn is_ready(&self) -> bool {
        self.why_not_ready().is_none()
    }

    /// Why the app is not ready, if it is not.
    pub fn why_not_ready(&self) -> Option<String> {
        let s = &self.0;
        if s.stopping.load(Ordering::Relaxed) {
            return Some("shutting down".into());
        }
        let (joined, units) = (s.joined.load(Ordering::Relaxed), s.units.load(Ordering::Relaxed));
        if joined < units {
            return Some(format!("{joined} of {units} consumer groups have their assignment"));
        }
        if s.commit_failing.load(Ordering::Relaxed) {
            return Some("the last offset commit failed (broker unreachable?)".into());
        }
        None
    }
}

/// Something that runs beside an app while it runs (for example an HTTP server for
/// metrics and health): started with the app, stopped after the app stopped.
pub trait Service: Send + 'static {
    /// Starts the service. The returned task is aborted when the app has stopped; an error
    /// fails the app's start.
    fn start(self: Box<Self>, health: Health) -> BoxFuture<'static, Result<tokio::task::JoinHandle<()>>>;
}
