//! `Flow::then`: ordered async calls with bounded concurrency.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kflow_core::{App, Flow, Processor, TestDriver};

/// Each call sleeps longer for smaller inputs, so calls finish in reverse order.
fn slow_square(f: Flow<u64>) -> Flow<u64> {
    f.then(4, |v| async move {
        tokio::time::sleep(Duration::from_millis(100 - v * 10)).await;
        v * v
    })
}

#[test]
fn results_come_out_in_input_order_once_calls_finish() {
    let mut d = driver("square", slow_square, 1);
    for v in 1..=5u64 {
        d.pipe("in", &v);
    }
    assert!(
        d.output_values::<u64>("out").is_empty(),
        "nothing before the calls finish"
    );
    assert_eq!(
        d.committed_total(&group("square"), "in"),
        0,
        "nothing commits before its output is written"
    );
    // Four calls run at once; the fifth starts when the first finishes.
    d.advance_time(Duration::from_millis(100));
    assert_eq!(d.output_values::<u64>("out"), vec![1, 4, 9, 16]);
    d.advance_time(Duration::from_millis(100));
    assert_eq!(d.output_values::<u64>("out"), vec![1, 4, 9, 16, 25]);
    assert_all_committed(&mut d, &group("square"), "in");
}

#[test]
fn runs_at_most_the_given_number_of_calls_at_once() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let app = App::new(APP).processor(
        Processor::new("bounded", move |f: Flow<u64>| {
            let (r, p) = (r.clone(), p.clone());
            f.then(3, move |v| {
                let (r, p) = (r.clone(), p.clone());
                async move {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    r.fetch_sub(1, Ordering::SeqCst);
                    v
                }
            })
        })
        .input(["in"])
        .output("out"),
    );
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    for v in 0..10u64 {
        d.broker()
            .produce(kflow_core::transport::OutRecord::new("in", v.to_string()))
            .unwrap();
    }
    d.settle();
    for _ in 0..10 {
        d.advance_time(Duration::from_millis(10));
    }
    assert_eq!(d.output_values::<u64>("out"), (0..10).collect::<Vec<_>>());
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}
