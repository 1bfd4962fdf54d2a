//! Session windows.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::window::{Session, WindowResult};
use kflow_core::{DropReason, Flow};

type Pages = WindowResult<String, Vec<String>>;

fn sessions(f: Flow<String>) -> Flow<Pages> {
    f.group_by_key::<String>()
        .window(Session::with_gap(Duration::from_secs(30)))
        .aggregate(Vec::new, |acc, page| acc.push(page))
}

fn out(d: &kflow_core::TestDriver) -> Vec<(String, i64, i64, Vec<String>)> {
    d.output_values::<Pages>("out")
        .into_iter()
        .map(|w| (w.key, w.window.start, w.window.end, w.value))
        .collect()
}

fn pages(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

#[test]
fn records_within_the_gap_form_one_session_per_key() {
    let mut d = driver("sessions", sessions, 1);
    d.pipe_at("in", Some("u1"), &"/a", 0);
    d.pipe_at("in", Some("u1"), &"/b", 20_000);
    d.pipe_at("in", Some("u2"), &"/x", 25_000);
    d.pipe_at("in", Some("u1"), &"/c", 100_000); // new session for u1; closes the first ones
    assert_eq!(
        out(&d),
        [
            ("u1".into(), 0, 20_001, pages(&["/a", "/b"])),
            ("u2".into(), 25_000, 25_001, pages(&["/x"]))
        ]
    );
    d.advance_stream_time(200_000);
    assert_eq!(out(&d).len(), 3);
    assert_all_committed(&mut d, &group("sessions"), "in");
}

#[test]
fn a_record_that_bridges_two_sessions_merges_them_in_event_time_order() {
    fn with_grace(f: Flow<String>) -> Flow<Pages> {
        f.group_by_key::<String>()
            .window(Session::with_gap(Duration::from_secs(30)).grace(Duration::from_secs(30)))
            .aggregate(Vec::new, |acc, page| acc.push(page))
    }
    let mut d = driver("sessions", with_grace, 1);
    d.pipe_at("in", Some("u"), &"/a", 0);
    d.pipe_at("in", Some("u"), &"/c", 50_000); // 50 s apart: two sessions, both open
    d.pipe_at("in", Some("u"), &"/b", 25_000); // within 30 s of both
    d.advance_stream_time(200_000);
    assert_eq!(out(&d), [("u".into(), 0, 50_001, pages(&["/a", "/b", "/c"]))]);
    assert_all_committed(&mut d, &group("sessions"), "in");
}

#[test]
fn without_grace_a_bridge_to_a_closed_session_is_late() {
    let mut d = driver("sessions", sessions, 1);
    d.pipe_at("in", Some("u"), &"/a", 0);
    d.pipe_at("in", Some("u"), &"/c", 50_000); // stream time passes 0 + 30 s: /a's session closes
    d.pipe_at("in", Some("u"), &"/b", 25_000); // within the gap of the closed one: late
    d.advance_stream_time(200_000);
    assert_eq!(
        out(&d),
        [
            ("u".into(), 0, 1, pages(&["/a"])),
            ("u".into(), 50_000, 50_001, pages(&["/c"]))
        ]
    );
    assert_eq!(d.dropped("sessions", kflow_core::DropReason::Late), 1);
}

#[test]
fn a_record_whose_session_would_already_be_closed_is_late() {
    let mut d = driver("sessions", sessions, 1);
    d.pipe_at("in", Some("u"), &"/now", 100_000);
    d.pipe_at("in", Some("u"), &"/old", 10_000); // 10 000 + 30 000 < 100 000, nothing to merge with
    assert_eq!(d.dropped("sessions", DropReason::Late), 1);
    d.advance_stream_time(200_000);
    assert_eq!(out(&d), [("u".into(), 100_000, 100_001, pages(&["/now"]))]);
}

#[test]
fn every_update_mode_emits_the_session_so_far() {
    fn updates(f: Flow<String>) -> Flow<Pages> {
        f.group_by_key::<String>()
            .window(Session::with_gap(Duration::from_secs(30)))
            .emit_every_update()
            .aggregate(Vec::new, |acc, page| acc.push(page))
    }
    let mut d = driver("updates", updates, 1);
    d.pipe_at("in", Some("u"), &"/a", 0);
    d.pipe_at("in", Some("u"), &"/b", 10_000);
    assert_eq!(
        out(&d),
        [
            ("u".into(), 0, 1, pages(&["/a"])),
            ("u".into(), 0, 10_001, pages(&["/a", "/b"]))
        ]
    );
    d.advance_stream_time(100_000);
    assert_eq!(out(&d).len(), 2);
    assert_all_committed(&mut d, &group("updates"), "in");
}
