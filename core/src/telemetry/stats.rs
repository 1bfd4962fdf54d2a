//! Counters of records that did not reach an output, by processor and reason.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::ErrorKind;

/// Why a record did not reach an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A filter (or an empty flat_map) dropped it.
    Filtered,
    /// It arrived after its windows closed.
    Late,
    /// Its processing failed and the policy was `skip`.
    Skipped,
    /// Its processing failed and it was written to the dead-letter topic.
    DeadLettered,
    /// A record in a listener's retry topic that names another consumer group (see
    /// `policy::retry_topic`): left to that group.
    ForeignRetry,
}

impl DropReason {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Filtered => "filtered",
            DropReason::Late => "late",
            DropReason::Skipped => "skipped",
            DropReason::DeadLettered => "dead_lettered",
            DropReason::ForeignRetry => "foreign_retry",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An app's counters. Also exported through the `metrics` facade as
/// `kflow_records_dropped_total{processor, reason}` and
/// `kflow_retries_total{processor, kind}`.
///
/// ```
/// use kflow_core::{Stats, DropReason};
/// let stats = Stats::default();
/// assert_eq!(stats.dropped("orders", DropReason::Late), 0);
/// ```
#[derive(Default)]
pub struct Stats {
    counters: Mutex<HashMap<(String, DropReason), Arc<AtomicU64>>>,
    retries: Mutex<HashMap<(String, ErrorKind), Arc<AtomicU64>>>,
}

impl Stats {
    /// How many records `processor` dropped for `reason`.
    pub fn dropped(&self, processor: &str, reason: DropReason) -> u64 {
        self.counters
            .lock()
            .expect("stats lock")
            .get(&(processor.to_string(), reason))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// How many times `processor` retried a record after an error of `kind` (in place, or
    /// by writing it to a retry topic).
    pub fn retries(&self, processor: &str, kind: ErrorKind) -> u64 {
        self.retries
            .lock()
            .expect("stats lock")
            .get(&(processor.to_string(), kind))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub(crate) fn retry_counter(&self, processor: &str, kind: ErrorKind) -> DropCounter {
        let local = self
            .retries
            .lock()
            .expect("stats lock")
            .entry((processor.to_string(), kind))
            .or_default()
            .clone();
        let metric = metrics::counter!(
            "kflow_retries_total",
            "processor" => processor.to_string(),
            "kind" => kind.to_string()
        );
        DropCounter { local, metric }
    }

    pub(crate) fn drop_counter(&self, processor: &str, reason: DropReason) -> DropCounter {
        let local = self
            .counters
            .lock()
            .expect("stats lock")
            .entry((processor.to_string(), reason))
            .or_default()
            .clone();
        let metric = metrics::counter!(
            "kflow_records_dropped_total",
            "processor" => processor.to_string(),
            "reason" => reason.as_str()
        );
        DropCounter { local, metric }
    }
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counters = self.counters.lock().expect("stats lock");
        let mut m = f.debug_map();
        for ((p, r), c) in counters.iter() {
            m.entry(&format!("{p}/{r}"), &c.load(Ordering::Relaxed));
        }
        m.finish()
    }
}

/// One counter: the app's own number and the exported metric.
pub(crate) struct DropCounter {
    local: Arc<AtomicU64>,
    metric: metrics::Counter,
}

impl DropCounter {
    pub(crate) fn incr(&self) {
        self.local.fetch_add(1, Ordering::Relaxed);
        self.metric.increment(1);
    }
}
