//! Topics an app creates: outputs take the configured defaults, repartition topics the
//! inputs' partition count.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::window::{Tumbling, WindowResult};
use kflow_core::{App, Flow, Processor, TestDriver, TopicDefaults};

fn counts(f: Flow<u64>) -> Flow<WindowResult<u64, u64>> {
    f.group_by(|v| v % 3)
        .window(Tumbling::of(Duration::from_secs(1)))
        .count()
}

#[test]
fn missing_topics_are_created_with_the_defaults_and_repartitions_match_the_inputs() {
    let app = App::new(APP)
        .topic_defaults(TopicDefaults::default().partitions(5).replication(1))
        .processor(Processor::new("counts", counts).input(["in"]).output("out"));
    let d = TestDriver::new(app, &[("in", 2)]).unwrap();
    assert_eq!(d.broker().partitions("out"), Some(5));
    assert_eq!(d.broker().partitions("t-counts-repartition"), Some(2));
}

#[test]
fn existing_topics_are_kept_as_they_are() {
    let app = App::new(APP).processor(Processor::new("counts", counts).input(["in"]).output("out"));
    let d = TestDriver::new(app, &[("in", 2), ("out", 7)]).unwrap();
    assert_eq!(d.broker().partitions("out"), Some(7));
}
