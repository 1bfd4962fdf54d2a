//! How a transport's background machinery (poll threads, delivery callbacks, client
//! errors librdkafka calls fatal) tells the runtime that it can no longer work.
//!
//! A [`FailureSignal`] is set once, by whichever part fails first, and stays set. The
//! runtime waits on it beside everything else and stops the app with its reason; the
//! health endpoints report it. Nothing that fails in a thread of its own may end quietly.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// A one-way, set-once failure flag with a reason. Cheap to clone; clones share it.
///
/// ```
/// use kflow_core::transport::FailureSignal;
/// let signal = FailureSignal::default();
/// assert_eq!(signal.get(), None);
/// signal.fail("the poll thread of group `billing` panicked: boom".into());
/// signal.fail("a later failure is not kept".into());
/// assert_eq!(signal.get().as_deref(), Some("the poll thread of group `billing` panicked: boom"));
/// let reason = futures::executor::block_on(signal.wait());
/// assert!(reason.contains("billing"));
/// ```
#[derive(Clone, Default)]
pub struct FailureSignal(Arc<Shared>);

#[derive(Default)]
struct Shared {
    reason: Mutex<Option<String>>,
    set: Notify,
}

impl FailureSignal {
    /// Records the failure (the first one wins) and wakes every waiter.
    pub fn fail(&self, reason: String) {
        {
            let mut slot = self.0.reason.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                return;
            }
            tracing::error!(%reason, "transport failure");
            *slot = Some(reason);
        }
        self.0.set.notify_waiters();
    }

    /// The failure, if one happened.
    pub fn get(&self) -> Option<String> {
        self.0.reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until a failure is recorded and returns its reason.
    pub async fn wait(&self) -> String {
        loop {
            let notified = self.0.set.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = self.get() {
                return reason;
            }
            notified.await;
        }
    }
}

impl std::fmt::Debug for FailureSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("FailureSignal").field(&self.get()).finish()
    }
}
