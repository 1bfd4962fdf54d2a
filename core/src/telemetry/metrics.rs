//! The metrics kflow records through the `metrics` facade. Names and labels are listed in
//! `docs/observability.md`; an exporter (the facade's Prometheus server) makes them visible.

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

use crate::record::TopicPartition;

/// Records read by `unit` from `topic`.
pub(crate) fn records_in(unit: &str, topic: &str) -> Counter {
    counter!("kflow_records_in_total", "processor" => unit.to_string(), "topic" => topic.to_string())
}

/// Records written by `unit` to `topic` (queued on the producer).
pub(crate) fn records_out(unit: &str, topic: &str) -> Counter {
    counter!("kflow_records_out_total", "processor" => unit.to_string(), "topic" => topic.to_string())
}

/// Records `unit` wrote to the dead-letter topic `topic`.
pub(crate) fn dead_letters(unit: &str, topic: &str) -> Counter {
    counter!("kflow_dead_letters_total", "processor" => unit.to_string(), "topic" => topic.to_string())
}

/// How long a listener's handler calls take.
pub(crate) fn handler_duration(unit: &str) -> Histogram {
    histogram!("kflow_handler_duration_seconds", "processor" => unit.to_string())
}

/// Records that arrived after their window closed.
pub(crate) fn window_late(unit: &str) -> Counter {
    counter!("kflow_window_late_records_total", "processor" => unit.to_string())
}

/// Successful offset commits of a group.
pub(crate) fn commits(group: &str) -> Counter {
    counter!("kflow_commits_total", "group" => group.to_string())
}

/// Failed offset commits of a group.
pub(crate) fn commit_failures(group: &str) -> Counter {
    counter!("kflow_commit_failures_total", "group" => group.to_string())
}

/// The offset a group last committed on a partition.
pub(crate) fn committed_offset(group: &str, tp: &TopicPartition) -> Gauge {
    gauge!(
        "kflow_committed_offset",
        "group" => group.to_string(),
        "topic" => tp.topic.to_string(),
        "partition" => tp.partition.0.to_string()
    )
}

/// Records read but not yet done (between a partition's commit frontier and the newest
/// record read), summed over a unit's partitions.
pub(crate) fn in_flight(unit: &str) -> Gauge {
    gauge!("kflow_in_flight_records", "processor" => unit.to_string())
}

/// Assignment changes of a group (`event` = `assigned` or `revoked`).
pub(crate) fn rebalances(group: &str, event: &'static str) -> Counter {
    counter!("kflow_rebalances_total", "group" => group.to_string(), "event" => event)
}

/// Partitions a group member holds.
pub(crate) fn partitions_assigned(group: &str) -> Gauge {
    gauge!("kflow_partitions_assigned", "group" => group.to_string())
}

/// Partitions of a group member that have records waiting and made no progress for the
/// stall timeout.
pub(crate) fn stalled_partitions(group: &str) -> Gauge {
    gauge!("kflow_stalled_partitions", "group" => group.to_string())
}

/// Changelog records read while restoring a store.
pub(crate) fn state_restore_records(unit: &str, store: &str) -> Counter {
    counter!("kflow_state_restore_records_total", "processor" => unit.to_string(), "store" => store.to_string())
}

/// How long restoring a store took, per restore.
pub(crate) fn state_restore_seconds(unit: &str, store: &str) -> Histogram {
    histogram!("kflow_state_restore_seconds", "processor" => unit.to_string(), "store" => store.to_string())
}

/// Tasks of a processor restoring a store now.
pub(crate) fn state_restoring(unit: &str) -> Gauge {
    gauge!("kflow_state_restoring_tasks", "processor" => unit.to_string())
}

/// Windows emitted again after a restore (with the value they had: see `kflow::window`).
pub(crate) fn window_reemitted(unit: &str) -> Counter {
    counter!("kflow_window_reemitted_total", "processor" => unit.to_string())
}

/// Records a window store had already applied (a replay after a restart, or a duplicate
/// written by a crashed upstream task), skipped.
pub(crate) fn state_duplicates(unit: &str, store: &str) -> Counter {
    counter!("kflow_state_duplicate_records_total", "processor" => unit.to_string(), "store" => store.to_string())
}

/// Records a window store already reflected (replays, repartition duplicates), skipped.
pub(crate) fn window_duplicates(unit: &str) -> Counter {
    counter!("kflow_window_duplicate_records_total", "processor" => unit.to_string())
}
