//! The runtime: [`App`], [`Processor`] and [`Listener`] definitions, group members,
//! partition tasks and commits.

mod app;
mod listener;
mod member;
mod processor;
pub mod stats;
mod task;
mod unit;

use std::time::Duration;

pub use app::{App, AppHandle};
pub use listener::Listener;
pub use processor::Processor;

/// Where tasks report errors that must stop the app.
#[derive(Clone)]
pub(crate) struct FatalErrors(tokio::sync::mpsc::UnboundedSender<String>);

impl FatalErrors {
    pub(crate) fn report(&self, reason: String) {
        tracing::error!(%reason, "stopping the app");
        let _ = self.0.send(reason);
    }
}

/// Timing settings of the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// How often each member commits its partitions' frontiers (default 5 s).
    pub commit_interval: Duration,
    /// How long stopping a partition's work may take (revocation, shutdown) before it is
    /// abandoned; its uncommitted records are then processed again (default 10 s).
    pub drain_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            commit_interval: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(10),
        }
    }
}
