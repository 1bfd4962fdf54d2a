//! The runtime: [`App`], [`Processor`] and [`Listener`] definitions, group members,
//! partition tasks and commits.

mod app;
mod commit;
mod context;
pub mod handler;
mod listener;
mod member;
mod pauses;
mod processor;
mod service;
pub(crate) mod task;
mod unit;

use std::time::Duration;

pub use app::{shutdown_signal, App, AppHandle};
pub use context::{AppContext, Moved, PartitionStatus, PauseTarget, RestoreStatus, SeekError, UnitStatus};
pub use listener::{IntoListener, Listener};
pub use processor::{IntoProcessor, NoOutput, Output, OutputMode, Processor};
pub use service::Service;

/// How kflow creates the topics an app writes to and that are missing: outputs,
/// repartition and late topics.
///
/// ```
/// use kflow_core::runtime::TopicDefaults;
/// let d = TopicDefaults::default().replication(3).config("retention.ms", "86400000");
/// assert_eq!(d.replication, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefaults {
    /// Partition count; `None` (the default) uses the largest input topic's count, which
    /// repartition topics need for co-partitioned tasks.
    pub partitions: Option<i32>,
    /// Replication factor (default 1).
    pub replication: i16,
    /// Topic configs (`retention.ms`, `cleanup.policy`, ...).
    pub configs: Vec<(String, String)>,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            partitions: None,
            replication: 1,
            configs: Vec::new(),
        }
    }
}

impl TopicDefaults {
    /// Sets the partition count.
    pub fn partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// Sets the replication factor.
    pub fn replication(mut self, replication: i16) -> Self {
        self.replication = replication;
        self
    }

    /// Adds a topic config.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.configs.push((key.to_string(), value.to_string()));
        self
    }
}

/// Where stores keep their state (see [`crate::App::state_dir`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateSettings {
    /// The directory of on-disk stores' databases (`None`: every store in memory).
    pub dir: Option<std::path::PathBuf>,
    /// How many entries an on-disk store keeps in memory.
    pub cache: usize,
}

/// The default of [`crate::App::state_cache`].
pub const DEFAULT_STATE_CACHE: usize = 100_000;

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            dir: None,
            cache: DEFAULT_STATE_CACHE,
        }
    }
}

/// Timing settings of the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// How often each member commits its partitions' frontiers (default 5 s).
    pub commit_interval: Duration,
    /// Also commit once this many records were taken since the last commit (default:
    /// the interval only).
    pub commit_records: Option<u64>,
    /// How long stopping a partition's work may take (revocation, shutdown) before it is
    /// abandoned; its uncommitted records are then processed again (default 10 s). A
    /// transport that holds a rebalance while the work stops (Kafka) holds it this long
    /// plus `commit_timeout`, and no longer.
    pub drain_timeout: Duration,
    /// How long one commit may take: an offset commit, or an exactly-once transaction's
    /// commit or abort (default 5 s).
    pub commit_timeout: Duration,
    /// How long an assigned partition with records waiting may go without progress (no
    /// record taken, none finished) before the app reports it as stalled and is not
    /// ready (default 60 s). Partitions paused by the app and listeners waiting for a
    /// retry record to fall due are not stalled.
    pub stall_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            commit_interval: Duration::from_secs(5),
            commit_records: None,
            drain_timeout: crate::transport::DEFAULT_DRAIN_TIMEOUT,
            commit_timeout: crate::transport::DEFAULT_COMMIT_TIMEOUT,
            stall_timeout: Duration::from_secs(60),
        }
    }
}
