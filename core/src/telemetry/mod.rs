//! Telemetry: the counters of records that did not reach an output ([`Stats`]), the
//! metrics kflow records through the `metrics` facade, the app's [`Health`], and how
//! errors that stop the app are reported ([`Fatal`](crate::Fatal)).

mod fatal;
mod health;
pub(crate) mod metrics;
mod stats;

pub(crate) use fatal::{FatalReporter, TaskFailure};
pub use health::Health;
pub(crate) use health::Restoring;
pub(crate) use stats::DropCounter;
pub use stats::{DropReason, Stats};
