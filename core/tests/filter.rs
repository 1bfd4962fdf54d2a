//! `Flow::filter`: outputs, drop counts and commits.

mod common;

use common::*;
use kflow_core::{DropReason, Flow};

fn evens(n: Flow<u32>) -> Flow<u32> {
    n.filter(|v| v % 2 == 0)
}

#[test]
fn keeps_matching_records_in_order_and_counts_the_rest() {
    let mut d = driver("evens", evens, 1);
    for i in 0..10u32 {
        d.pipe("in", &i);
    }
    assert_eq!(d.output_values::<u32>("out"), vec![0, 2, 4, 6, 8]);
    assert_eq!(d.dropped("evens", DropReason::Filtered), 5);
    // Dropped records are done too: every input offset commits.
    assert_all_committed(&mut d, &group("evens"), "in");
}

#[test]
fn a_filter_that_drops_everything_still_commits() {
    fn none(n: Flow<u32>) -> Flow<u32> {
        n.filter(|_| false)
    }
    let mut d = driver("none", none, 2);
    for i in 0..6u32 {
        d.pipe("in", &i);
    }
    assert!(d.output_values::<u32>("out").is_empty());
    assert_eq!(d.dropped("none", DropReason::Filtered), 6);
    assert_all_committed(&mut d, &group("none"), "in");
}
