//! Helpers shared by the integration tests of kflow-core.
#![allow(dead_code)]

use kflow_core::{App, Flow, Processor, TestDriver};
use serde::{de::DeserializeOwned, Serialize};

/// The app id every test app uses.
pub const APP: &str = "t";

/// The consumer group of processor `name` in [`APP`].
pub fn group(name: &str) -> String {
    format!("{APP}-{name}")
}

/// An app with one JSON processor from `in` to `out`.
pub fn app<In, Out>(name: &str, f: fn(Flow<In>) -> Flow<Out>) -> App
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
{
    App::new(APP).processor(Processor::new(name, f).input(["in"]).output("out"))
}

/// A driver running [`app`] with `in` having `partitions` partitions.
pub fn driver<In, Out>(name: &str, f: fn(Flow<In>) -> Flow<Out>, partitions: i32) -> TestDriver
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
{
    TestDriver::new(app(name, f), &[("in", partitions)]).expect("driver starts")
}

/// Asserts that `group` committed every record of `topic` (offsets from 0), once 20 ms
/// of processing time passed (window stores write their changes at most that often).
pub fn assert_all_committed(d: &mut TestDriver, group: &str, topic: &str) {
    d.advance_time(std::time::Duration::from_millis(20));
    let ends: i64 = d.broker().end_offsets(topic).iter().map(|o| o.0).sum();
    assert_eq!(
        d.committed_total(group, topic),
        ends,
        "committed offsets of {group} on {topic}"
    );
}
