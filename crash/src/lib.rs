//! kflow's crash harness (not published). The binary `kflow-crash-child` runs one kflow
//! app against a real Kafka-protocol broker; the tests in `tests/` start it as a child
//! process, kill it with `SIGKILL` at random points while input keeps arriving, start it
//! again, and compare what came out with what went in. See `docs/reliability.md`.
//!
//! The child is configured through the environment (see [`Child`]): `KAFKA_BROKERS`,
//! `KFLOW_CHILD_MODE` (`processor`, `exactly-once`, `listener` or `retry-latest`),
//! `KFLOW_CHILD_APP`,
//! `KFLOW_CHILD_INPUT`, `KFLOW_CHILD_OUTPUT` (a topic for `processor`, a file that handled
//! values are appended to for the listeners) and `KFLOW_CHILD_COMMIT_MS`.

/// The environment variables the child reads.
pub struct Child;

impl Child {
    /// `processor` (copies values), `exactly-once` (adds 1 000 000, in transactions),
    /// `listener` (appends values to a file) or `retry-latest`.
    pub const MODE: &'static str = "KFLOW_CHILD_MODE";
    /// The app id (its groups are `<app>-<unit>`).
    pub const APP: &'static str = "KFLOW_CHILD_APP";
    /// The input topic.
    pub const INPUT: &'static str = "KFLOW_CHILD_INPUT";
    /// The output topic (processor) or the file handled values go to (listeners).
    pub const OUTPUT: &'static str = "KFLOW_CHILD_OUTPUT";
    /// The commit interval in milliseconds (default 200).
    pub const COMMIT_MS: &'static str = "KFLOW_CHILD_COMMIT_MS";
    /// In `retry-latest` mode: the value whose first delivery fails (default 13).
    pub const FAIL_VALUE: &'static str = "KFLOW_CHILD_FAIL_VALUE";
    /// In `retry-latest` mode: the retry topic's delay in milliseconds (default 10 000).
    pub const RETRY_DELAY_MS: &'static str = "KFLOW_CHILD_RETRY_DELAY_MS";
    /// Where the `windowed-disk` child keeps its on-disk stores.
    pub const STATE_DIR: &'static str = "KFLOW_CHILD_STATE_DIR";
}
