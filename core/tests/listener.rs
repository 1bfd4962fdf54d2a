//! Listeners through the TestDriver.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use kflow_core::policy::{self, Policy};
use kflow_core::{App, DropReason, HandlerError, Listener, Meta, TestDriver, TopicPartition};

type Seen = Arc<Mutex<Vec<(i32, i64, String)>>>;

/// A listener that records (partition, offset, value) and fails on values starting with
/// "bad" or panics on "boom".
fn recorder(seen: &Seen, policy: Policy) -> App {
    let seen = seen.clone();
    App::new(APP).listener(
        Listener::new("rec", ["in"], move |value: String, meta: Meta| {
            let seen = seen.clone();
            async move {
                if value.starts_with("boom") {
                    panic!("handler panicked on {value}");
                }
                if value.starts_with("bad") {
                    return Err(HandlerError::from(format!("cannot handle {value}")));
                }
                seen.lock().unwrap().push((meta.partition.0, meta.offset.0, value));
                Ok(())
            }
        })
        .on_error(policy),
    )
}

#[test]
fn handles_each_record_once_in_offset_order_with_its_metadata() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen, policy::fail()), &[("in", 3)]).unwrap();
    for i in 0..30 {
        d.pipe_at("in", Some(&format!("key-{}", i % 7)), &format!("v{i}"), i);
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 30);
    for p in 0..3 {
        let offsets: Vec<i64> = seen.iter().filter(|(q, _, _)| *q == p).map(|(_, o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {p} in offset order"
        );
    }
    assert_all_committed(&mut d, &group("rec"), "in");
}

#[test]
fn a_handler_error_stops_the_app_and_a_restart_resumes_at_the_failed_record() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen, policy::fail()), &[("in", 1)]).unwrap();
    d.pipe("in", &"ok-1");
    d.pipe("in", &"bad-2");
    d.pipe("in", &"ok-3");
    let error = d.app_error(0).expect("stopped");
    assert!(
        error.contains("handler error") && error.contains("cannot handle bad-2"),
        "{error}"
    );
    assert_eq!(
        d.broker()
            .committed(&group("rec"), &TopicPartition::new("in", 0))
            .map(|o| o.0),
        Some(1)
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "nothing after the failed record was handled"
    );

    // A fixed deployment (here: skip) picks up exactly at the failed record.
    let again: Seen = Default::default();
    d.start(recorder(&again, policy::skip())).unwrap();
    let values: Vec<String> = again.lock().unwrap().iter().map(|(_, _, v)| v.clone()).collect();
    assert_eq!(values, ["ok-3"]);
    assert_eq!(d.dropped("rec", DropReason::Skipped), 1);
    assert_all_committed(&mut d, &group("rec"), "in");
}

#[test]
fn a_panicking_handler_stops_the_app_without_committing_past_the_record() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen, policy::fail()), &[("in", 1)]).unwrap();
    d.pipe("in", &"ok-1");
    d.pipe("in", &"boom-2");
    d.pipe("in", &"ok-3");
    let error = d.app_error(0).expect("stopped");
    assert!(error.contains("panicked"), "{error}");
    assert_eq!(
        d.broker()
            .committed(&group("rec"), &TopicPartition::new("in", 0))
            .map(|o| o.0),
        Some(1)
    );
}

#[test]
fn undecodable_records_are_skipped_and_counted_under_skip() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen, policy::skip()), &[("in", 1)]).unwrap();
    d.pipe("in", &"ok-1");
    d.pipe("in", &17); // not a string
    d.pipe("in", &"ok-3");
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(d.dropped("rec", DropReason::Skipped), 1);
    assert_all_committed(&mut d, &group("rec"), "in");
}

#[test]
fn concurrency_limits_handler_calls_across_partitions() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let listener = Listener::new("slow", ["in"], |_v: u32, _m: Meta| async {
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        DONE.fetch_add(1, Ordering::SeqCst);
        Ok::<(), HandlerError>(())
    })
    .concurrency(2);
    let mut d = TestDriver::new(App::new(APP).listener(listener), &[("in", 4)]).unwrap();
    for i in 0..12u32 {
        d.broker()
            .produce(kflow_core::transport::OutRecord::new("in", i.to_string()).with_partition((i % 4) as i32))
            .unwrap();
    }
    d.settle();
    for _ in 0..20 {
        d.advance_time(Duration::from_millis(10));
    }
    assert_eq!(DONE.load(Ordering::SeqCst), 12);
    assert_eq!(
        PEAK.load(Ordering::SeqCst),
        2,
        "four partitions, at most two calls at once"
    );
    assert_all_committed(&mut d, &group("slow"), "in");
}
