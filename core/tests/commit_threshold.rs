//! `App::commit_every_records`: a commit once N records were taken, besides the interval.

mod common;

use common::*;
use kflow_core::{App, Flow, Processor, TestDriver};

fn double(f: Flow<u64>) -> Flow<u64> {
    f.map(|v| v * 2)
}

fn app_with(threshold: Option<u64>) -> App {
    let app = App::new(APP).processor(Processor::new("double", double).input(["in"]).output("out"));
    match threshold {
        Some(n) => app.commit_every_records(n),
        None => app,
    }
}

#[test]
fn a_commit_follows_every_n_records_taken() {
    let mut d = TestDriver::new(app_with(Some(3)), &[("in", 1)]).unwrap();
    let committed = |d: &TestDriver| d.broker().committed_total(&group("double"), "in");
    for v in 0..2u64 {
        d.pipe("in", &v);
    }
    assert_eq!(committed(&d), 0, "two records: no commit before the interval");
    d.pipe("in", &2u64);
    assert_eq!(committed(&d), 3, "the third record makes a commit due");
    for v in 3..8u64 {
        d.pipe("in", &v);
    }
    assert_eq!(committed(&d), 6, "three more, then two that make no commit yet");
    d.pipe("in", &8u64);
    assert_eq!(committed(&d), 9);
}

#[test]
fn without_a_threshold_only_the_interval_commits() {
    let mut d = TestDriver::new(app_with(None), &[("in", 1)]).unwrap();
    for v in 0..10u64 {
        d.pipe("in", &v);
    }
    assert_eq!(d.broker().committed_total(&group("double"), "in"), 0);
    d.advance_time(std::time::Duration::from_secs(5));
    assert_eq!(d.broker().committed_total(&group("double"), "in"), 10);
}
