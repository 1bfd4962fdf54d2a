//! Sliding windows.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::window::{Sliding, WindowResult};
use kflow_core::{DropReason, Flow};

type Sums = WindowResult<String, u64>;

fn sums(f: Flow<u64>) -> Flow<Sums> {
    f.group_by_key::<String>()
        .window(Sliding::of(Duration::from_secs(10)).grace(Duration::from_secs(1)))
        .reduce(|a, b| a + b)
}

fn out(d: &kflow_core::TestDriver) -> Vec<(i64, i64, u64)> {
    d.output_values::<Sums>("out")
        .into_iter()
        .map(|w| (w.window.start, w.window.end, w.value))
        .collect()
}

#[test]
fn each_record_ends_a_window_over_the_size_before_it() {
    let mut d = driver("slide", sums, 1);
    d.pipe_at("in", Some("k"), &1u64, 1_000);
    d.pipe_at("in", Some("k"), &2u64, 5_000);
    d.pipe_at("in", Some("k"), &4u64, 12_000); // 1 000 falls out: 12 000 - 10 000 = 2 000
    d.advance_stream_time(20_000);
    assert_eq!(out(&d), [(-9_000, 1_001, 1), (-5_000, 5_001, 3), (2_000, 12_001, 6)]);
    // A record at 19 000 could still open a window covering 12 000, so it is kept, in the
    // store and its changelog: its offset commits all the same.
    assert_all_committed(&mut d, &group("slide"), "in");
}

#[test]
fn an_out_of_order_record_joins_the_open_windows_that_cover_it() {
    let mut d = driver("slide", sums, 1);
    d.pipe_at("in", Some("k"), &1u64, 5_000);
    d.pipe_at("in", Some("k"), &10u64, 8_000);
    // Stream time 8 000 closed 5 000's window (5 000 + 1 + grace); 4 000's own window
    // would close even earlier, so it only joins the window ending at 8 000.
    d.pipe_at("in", Some("k"), &100u64, 4_000);
    d.advance_stream_time(20_000);
    assert_eq!(out(&d), [(-5_000, 5_001, 1), (-2_000, 8_001, 111)]);
    assert_eq!(d.dropped("slide", DropReason::Late), 0);
}

#[test]
fn a_record_older_than_every_open_window_is_late() {
    let mut d = driver("slide", sums, 1);
    d.pipe_at("in", Some("k"), &1u64, 30_000);
    d.pipe_at("in", Some("k"), &1u64, 10_000); // 10 000 + 10 000 + 1 + 1 000 <= 30 000
    assert_eq!(d.dropped("slide", DropReason::Late), 1);
    d.advance_stream_time(50_000);
    assert_eq!(out(&d), [(20_000, 30_001, 1)]);
    assert_all_committed(&mut d, &group("slide"), "in");
}
