//! `Flow::to`, start-up checks, and failed writes. (A pipeline with outputs but no output
//! topic does not compile: `macros/tests/ui/fail_processor_without_output.rs`.)

mod common;

use common::*;
use kflow_core::codec::Sent;
use kflow_core::{App, Error, Flow, Processor, TestDriver};

fn route(f: Flow<i32>) -> Flow<Sent> {
    // Split by sign into two topics: the flows are built from the same input by
    // filtering twice is not possible (one consumer per flow), so route with a key
    // instead and write positives and negatives with two `to` calls on two halves.
    f.filter(|v| *v >= 0).to("positive")
}

#[test]
fn writes_to_the_named_topic_without_an_output_topic() {
    let app = App::new(APP).processor(Processor::new("route", route).input(["in"]));
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    for v in [3, -1, 4, -1, 5] {
        d.pipe("in", &v);
    }
    assert_eq!(d.output_values::<i32>("positive"), vec![3, 4, 5]);
    assert_all_committed(&mut d, &group("route"), "in");
}

#[test]
fn a_missing_input_topic_is_a_startup_error_naming_it() {
    let app = App::new(APP).processor(Processor::new("route", route).input(["nope"]));
    let err = TestDriver::new(app, &[("in", 1)]).err().expect("rejected at start-up");
    assert!(matches!(&err, Error::Topic { topic, .. } if topic == "nope"), "{err}");
}

#[test]
fn a_failed_write_stops_the_app_and_commits_nothing_past_it() {
    let app = App::new(APP).processor(Processor::new("route", route).input(["in"]));
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    d.pipe("in", &1);
    d.broker().inject_produce_errors("positive", 1);
    d.pipe("in", &2);
    d.pipe("in", &3);
    let error = d.app_error(0).expect("stopped");
    assert!(error.contains("injected produce error"), "{error}");
    assert_eq!(
        d.broker()
            .committed(&group("route"), &kflow_core::TopicPartition::new("in", 0)),
        Some(kflow_core::Offset(1))
    );
}
