//! `Flow::inspect`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use kflow_core::{App, Flow, Processor, TestDriver};

#[test]
fn sees_every_value_and_passes_it_on() {
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let app = App::new(APP).processor(
        Processor::new("sum", move |f: Flow<u64>| {
            let s = s.clone();
            f.inspect(move |v| {
                s.fetch_add(*v, Ordering::Relaxed);
            })
        })
        .input(["in"])
        .output("out"),
    );
    let mut d = TestDriver::new(app, &[("in", 2)]).unwrap();
    for v in [5u64, 7, 11] {
        d.pipe("in", &v);
    }
    assert_eq!(seen.load(Ordering::Relaxed), 23);
    let mut out = d.output_values::<u64>("out");
    out.sort();
    assert_eq!(out, [5, 7, 11]);
    assert_all_committed(&mut d, &group("sum"), "in");
}
