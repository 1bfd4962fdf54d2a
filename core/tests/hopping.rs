//! Hopping windows.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::window::{Hopping, WindowResult};
use kflow_core::{DropReason, Flow};

type Counts = WindowResult<String, u64>;

fn counts(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Hopping::of(Duration::from_secs(10), Duration::from_secs(5)))
        .count()
}

fn out(d: &kflow_core::TestDriver) -> Vec<(i64, i64, u64)> {
    d.output_values::<Counts>("out")
        .into_iter()
        .map(|w| (w.window.start, w.window.end, w.value))
        .collect()
}

#[test]
fn a_record_counts_in_every_overlapping_window() {
    let mut d = driver("hop", counts, 1);
    d.pipe_at("in", Some("k"), &1u64, 7_000); // in [0,10) and [5,15)
    d.pipe_at("in", Some("k"), &1u64, 12_000); // in [5,15) and [10,20)
    d.advance_stream_time(30_000);
    assert_eq!(out(&d), [(0, 10_000, 1), (5_000, 15_000, 2), (10_000, 20_000, 1)]);
    assert_all_committed(&mut d, &group("hop"), "in");
}

#[test]
fn a_record_partly_late_joins_only_its_open_windows() {
    let mut d = driver("hop", counts, 1);
    d.pipe_at("in", Some("k"), &1u64, 10_000); // closes [0,10): nothing in it
    d.pipe_at("in", Some("k"), &1u64, 6_000); // [0,10) closed, [5,15) open
    d.advance_stream_time(30_000);
    assert_eq!(out(&d), [(5_000, 15_000, 2), (10_000, 20_000, 1)]);
    assert_eq!(d.dropped("hop", DropReason::Late), 0);
    d.pipe_at("in", Some("k"), &1u64, 1_000); // every window of it closed
    assert_eq!(d.dropped("hop", DropReason::Late), 1);
    assert_all_committed(&mut d, &group("hop"), "in");
}
