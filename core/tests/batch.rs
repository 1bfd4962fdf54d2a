//! `Flow::batch`: size, timeout and shutdown flushes.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::Flow;

fn batches(f: Flow<u32>) -> Flow<Vec<u32>> {
    f.batch(3, Duration::from_secs(1))
}

#[test]
fn full_batches_go_out_at_once() {
    let mut d = driver("batches", batches, 1);
    for v in 0..7u32 {
        d.pipe("in", &v);
    }
    assert_eq!(d.output_values::<Vec<u32>>("out"), vec![vec![0, 1, 2], vec![3, 4, 5]]);
    // The 7th record waits in a batch: its offset must not commit yet.
    assert_eq!(d.committed_total(&group("batches"), "in"), 6);
}

#[test]
fn a_partial_batch_goes_out_when_its_timeout_passes() {
    let mut d = driver("batches", batches, 1);
    d.pipe("in", &1u32);
    // Each driver step moves the paused clock by at most a few milliseconds.
    d.advance_time(Duration::from_millis(990));
    assert!(d.output_values::<Vec<u32>>("out").is_empty());
    d.advance_time(Duration::from_millis(20));
    assert_eq!(d.output_values::<Vec<u32>>("out"), vec![vec![1]]);
    assert_all_committed(&mut d, &group("batches"), "in");
}

#[test]
fn a_partial_batch_is_flushed_on_graceful_shutdown() {
    let mut d = driver("batches", batches, 1);
    d.pipe("in", &1u32);
    d.pipe("in", &2u32);
    d.stop(0).unwrap();
    assert_eq!(d.output_values::<Vec<u32>>("out"), vec![vec![1, 2]]);
    assert_eq!(
        d.broker()
            .committed(&group("batches"), &kflow_core::TopicPartition::new("in", 0)),
        Some(kflow_core::Offset(2))
    );
}
