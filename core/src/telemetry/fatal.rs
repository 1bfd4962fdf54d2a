//! Reporting errors that stop an app: the app-wide reporter of [`Fatal`] values and each
//! task's single failure signal.

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::Health;
use crate::error::Fatal;

/// Where everything that must stop the app is reported. The first report also marks the
/// app's health as failed (`/health/live` and `/health/ready` then answer 503 with it).
#[derive(Clone)]
pub(crate) struct FatalReporter {
    tx: mpsc::UnboundedSender<Fatal>,
    health: Health,
}

impl FatalReporter {
    /// A reporter whose reports arrive on the returned receiver.
    pub(crate) fn new(health: Health) -> (Self, mpsc::UnboundedReceiver<Fatal>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (FatalReporter { tx, health }, rx)
    }

    pub(crate) fn report(&self, fatal: Fatal) {
        tracing::error!(reason = %fatal, unit = ?fatal.unit, "stopping the app");
        self.health.failed(&fatal.reason);
        let _ = self.tx.send(fatal);
    }
}

/// One task's failure signal: set once (a record failed under `fail`, a write could not
/// be queued, the pipeline could not start); the task then stops taking records, and the
/// failure is reported to the app (when the task runs in one).
#[derive(Clone, Default)]
pub(crate) struct TaskFailure {
    failed: Arc<OnceLock<()>>,
    reporter: Option<FatalReporter>,
}

impl TaskFailure {
    pub(crate) fn reporting_to(reporter: FatalReporter) -> Self {
        TaskFailure {
            failed: Arc::default(),
            reporter: Some(reporter),
        }
    }

    /// Records the failure and reports it (each failure is reported; the app stops on
    /// the first).
    pub(crate) fn fail(&self, fatal: Fatal) {
        let _ = self.failed.set(());
        match &self.reporter {
            Some(r) => r.report(fatal),
            None => tracing::warn!(reason = %fatal, "a detached flow failed"),
        }
    }

    /// True once the task failed.
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.get().is_some()
    }
}
