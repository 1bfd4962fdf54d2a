//! Exactly-once processors are refused where they cannot hold, with a clear error.

use std::time::Duration;

use kflow_core::window::Tumbling;
use kflow_core::{App, Flow, Processor, TestDriver};

fn double(f: Flow<u64>) -> Flow<u64> {
    f.map(|v| v * 2)
}

fn counted(f: Flow<u64>) -> Flow<u64> {
    f.group_by(|v| v % 3)
        .window(Tumbling::of(Duration::from_secs(60)))
        .count()
        .map(|w| w.value)
}

#[test]
fn a_transport_without_transactions_is_a_start_up_error() {
    let app = App::new("eos").processor(Processor::new("p", double).input(["in"]).output("out").exactly_once());
    let err = TestDriver::new(app, &[("in", 1)]).err().expect("refused");
    assert!(err.to_string().contains("exactly_once"), "{err}");
    assert!(err.to_string().contains("no transactions"), "{err}");
}

#[test]
fn windows_are_refused_with_exactly_once() {
    let app = App::new("eos").processor(Processor::new("p", counted).input(["in"]).output("out").exactly_once());
    let err = TestDriver::new(app, &[("in", 1)]).err().expect("refused");
    assert!(err.to_string().contains("processor `p` exactly_once"), "{err}");
    assert!(err.to_string().contains("windows"), "{err}");
}
