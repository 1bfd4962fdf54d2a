//! `Flow::buffer`: the stages before it run ahead of a slow stage after it, in order,
//! with every record committed once handled.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use kflow_core::Flow;

static TAKEN_BUFFERED: AtomicU64 = AtomicU64::new(0);
static TAKEN_PLAIN: AtomicU64 = AtomicU64::new(0);

/// Each record waits a second downstream (on the paused clock).
async fn slow(v: u64) -> u64 {
    tokio::time::sleep(Duration::from_secs(1)).await;
    v * 10
}

fn buffered(f: Flow<u64>) -> Flow<u64> {
    f.inspect(|_| {
        TAKEN_BUFFERED.fetch_add(1, Ordering::SeqCst);
    })
    .buffer(16)
    .then(1, slow)
}

fn plain(f: Flow<u64>) -> Flow<u64> {
    f.inspect(|_| {
        TAKEN_PLAIN.fetch_add(1, Ordering::SeqCst);
    })
    .then(1, slow)
}

#[test]
fn the_upstream_runs_ahead_of_a_slow_stage_and_order_is_kept() {
    let mut d = driver("buffered", buffered, 1);
    for v in 0..5u64 {
        d.pipe("in", &v);
    }
    assert_eq!(
        TAKEN_BUFFERED.load(Ordering::SeqCst),
        5,
        "all five taken while the first waits"
    );
    d.advance_time(Duration::from_secs(10));
    assert_eq!(d.output_values::<u64>("out"), [0, 10, 20, 30, 40]);
    assert_all_committed(&mut d, &group("buffered"), "in");

    let mut d = driver("plain", plain, 1);
    for v in 0..5u64 {
        d.pipe("in", &v);
    }
    assert!(
        TAKEN_PLAIN.load(Ordering::SeqCst) < 5,
        "without the buffer the slow stage holds the ones before it back"
    );
    d.advance_time(Duration::from_secs(10));
    assert_eq!(d.output_values::<u64>("out"), [0, 10, 20, 30, 40]);
}

#[test]
fn a_panic_before_the_buffer_stops_the_app_and_commits_nothing_past_it() {
    fn panics(f: Flow<u64>) -> Flow<u64> {
        f.map(|v| if v == 2 { panic!("boom at {v}") } else { v }).buffer(4)
    }
    let mut d = driver("panics", panics, 1);
    for v in 0..4u64 {
        d.pipe("in", &v);
    }
    d.advance_time(Duration::from_secs(6));
    assert!(!d.is_running(0), "the app stopped");
    assert!(
        d.app_error(0).is_some_and(|e| e.contains("boom")),
        "{:?}",
        d.app_error(0)
    );
    assert!(d.broker().committed_total(&group("panics"), "in") <= 2);
}
