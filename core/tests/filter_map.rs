//! `Flow::filter_map`.

mod common;

use common::*;
use kflow_core::{DropReason, Flow};

fn parse(lines: Flow<String>) -> Flow<i64> {
    lines.filter_map(|l| l.trim().parse().ok())
}

#[test]
fn keeps_somes_and_counts_nones() {
    let mut d = driver("parse", parse, 1);
    for line in ["1", "two", " 3 ", "", "-4"] {
        d.pipe("in", &line);
    }
    assert_eq!(d.output_values::<i64>("out"), vec![1, 3, -4]);
    assert_eq!(d.dropped("parse", DropReason::Filtered), 2);
    assert_all_committed(&mut d, &group("parse"), "in");
}
