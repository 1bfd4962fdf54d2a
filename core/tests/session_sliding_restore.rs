//! Session and sliding windows across crashes and restarts: their kept records restored
//! from the changelog, a delivered window never emitted again with another value, and no
//! record folded twice.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kflow_core::window::{Session, Sliding, WindowResult};
use kflow_core::{Flow, TestDriver};

type Counts = WindowResult<String, u64>;

fn sessions(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Session::with_gap(Duration::from_secs(5)).grace(Duration::from_secs(20)))
        .count()
}

fn sliding(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Sliding::of(Duration::from_secs(10)).grace(Duration::from_secs(5)))
        .count()
}

fn session_updates(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Session::with_gap(Duration::from_secs(5)))
        .emit_every_update()
        .count()
}

fn sliding_updates(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Sliding::of(Duration::from_secs(10)))
        .emit_every_update()
        .count()
}

/// Sessions per user (the value), over a repartition topic.
fn user_sessions(f: Flow<String>) -> Flow<Counts> {
    f.group_by(|user| user.clone())
        .window(Session::with_gap(Duration::from_secs(5)))
        .count()
}

/// Sliding windows per user (the value), over a repartition topic.
fn user_sliding(f: Flow<String>) -> Flow<Counts> {
    f.group_by(|user| user.clone())
        .window(Sliding::of(Duration::from_secs(10)))
        .count()
}

/// Every result as (key, start, end, value), in output order.
fn results(d: &TestDriver) -> Vec<(String, i64, i64, u64)> {
    d.output_values::<Counts>("out")
        .into_iter()
        .map(|w| (w.key, w.window.start, w.window.end, w.value))
        .collect()
}

/// The value of each window by (key, start, end), checking that no window was emitted
/// with two values.
fn final_values(d: &TestDriver) -> BTreeMap<(String, i64, i64), u64> {
    let mut seen = BTreeMap::new();
    for (key, start, end, value) in results(d) {
        if let Some(before) = seen.insert((key.clone(), start, end), value) {
            assert_eq!(
                before, value,
                "window {key}@[{start}, {end}) emitted as {before}, then as {value}"
            );
        }
    }
    seen
}

fn expect(windows: &[(i64, i64, u64)]) -> BTreeMap<(String, i64, i64), u64> {
    windows.iter().map(|&(s, e, n)| (("k".to_string(), s, e), n)).collect()
}

fn restart(d: &mut TestDriver, crash: bool, name: &str, f: fn(Flow<u64>) -> Flow<Counts>) {
    if crash {
        d.crash(0);
    } else {
        d.stop(0).unwrap();
    }
    d.start(app(name, f)).unwrap();
}

/// Records at 1 s, 10 s, 3 s, 30 s: the session [1 s, 3 s] closes at 30 s with 2 while
/// the one at 10 s is still open (grace 20 s). Replaying from the open session's record,
/// as the in-memory store did, rebuilt [1 s, 3 s] from the 3 s record alone.
fn session_case(crash: bool) {
    let mut d = driver("sessions", sessions, 1);
    for ts in [1_000, 10_000, 3_000, 30_000] {
        d.pipe_at("in", Some("k"), &1u64, ts);
    }
    assert_eq!(results(&d), [("k".into(), 1_000, 3_001, 2)]);
    restart(&mut d, crash, "sessions", sessions);
    d.advance_stream_time(100_000);
    let got = results(&d);
    if !crash {
        // After a crash, a session whose delivery was not yet marked comes out again,
        // with the same value (final_values checks that).
        assert_eq!(
            got.iter().filter(|r| r.1 == 1_000).count(),
            1,
            "the delivered session is not emitted again: {got:?}"
        );
    }
    assert_eq!(
        final_values(&d),
        expect(&[(1_000, 3_001, 2), (10_000, 10_001, 1), (30_000, 30_001, 1)]),
        "{got:?}"
    );
    assert_all_committed(&mut d, &group("sessions"), "in");
}

#[test]
fn a_closed_session_keeps_its_value_across_a_crash() {
    session_case(true);
}

#[test]
fn a_closed_session_keeps_its_value_across_a_graceful_restart() {
    session_case(false);
}

/// Records at 1 s, 10 s, 5 s, 20 s (size 10 s, grace 5 s): the windows ending at 5 s
/// and 10 s close with 2 and 3 while the 10 s record is still kept for later windows.
/// Replaying from it, as the in-memory store did, rebuilt them with 1 and 2.
fn sliding_case(crash: bool) {
    let mut d = driver("slides", sliding, 1);
    for ts in [1_000, 10_000, 5_000, 20_000] {
        d.pipe_at("in", Some("k"), &1u64, ts);
    }
    let before = expect(&[(-9_000, 1_001, 1), (-5_000, 5_001, 2), (0, 10_001, 3)]);
    assert_eq!(final_values(&d), before, "{:?}", results(&d));
    restart(&mut d, crash, "slides", sliding);
    d.advance_stream_time(100_000);
    let got = results(&d);
    if !crash {
        assert_eq!(got.len(), 4, "each window once: {got:?}");
    }
    assert_eq!(
        final_values(&d),
        expect(&[
            (-9_000, 1_001, 1),
            (-5_000, 5_001, 2),
            (0, 10_001, 3),
            (10_000, 20_001, 2)
        ]),
        "{got:?}"
    );
    assert_all_committed(&mut d, &group("slides"), "in");
}

#[test]
fn a_closed_sliding_window_keeps_its_value_across_a_crash() {
    sliding_case(true);
}

#[test]
fn a_closed_sliding_window_keeps_its_value_across_a_graceful_restart() {
    sliding_case(false);
}

#[test]
fn an_open_session_is_restored_after_a_crash_and_counts_each_record_once() {
    let mut d = driver("sessions", sessions, 2);
    for (i, key) in ["a", "b", "a", "a", "b"].iter().enumerate() {
        d.pipe_at("in", Some(key), &1u64, 1_000 + i as i64);
    }
    assert_all_committed(&mut d, &group("sessions"), "in");
    for key in ["a", "b"] {
        d.pipe_at("in", Some(key), &1u64, 4_000);
    }
    // Not committed: replayed after the crash into the restored sessions.
    d.crash(0);
    d.start(app("sessions", sessions)).unwrap();
    d.pipe_at("in", Some("a"), &1u64, 8_000);
    d.advance_stream_time(100_000);
    let values = final_values(&d);
    assert_eq!(values.get(&("a".into(), 1_000, 8_001)), Some(&5), "{:?}", results(&d));
    assert_eq!(values.get(&("b".into(), 1_001, 4_001)), Some(&3), "{:?}", results(&d));
    assert_eq!(values.len(), 2, "{:?}", results(&d));
    assert_all_committed(&mut d, &group("sessions"), "in");
}

#[test]
fn a_record_within_the_gap_of_a_closed_session_is_late_also_after_a_crash() {
    // k's session [1 s, 2 s] closes when j's record at 8 s arrives (gap 5 s, no grace).
    // k's record at 6 s is within the gap of it: it belongs to the closed session, so it
    // is late (not the start of a new session next to it), before and after a crash, and
    // a replay of the closed session's records does not join anything either.
    fn tight(f: Flow<u64>) -> Flow<Counts> {
        f.group_by_key::<String>()
            .window(Session::with_gap(Duration::from_secs(5)))
            .count()
    }
    let mut d = driver("tight", tight, 1);
    for (key, ts) in [("k", 1_000), ("k", 2_000), ("j", 8_000), ("k", 6_000)] {
        d.pipe_at("in", Some(key), &1u64, ts);
    }
    assert_eq!(d.dropped("tight", kflow_core::DropReason::Late), 1);
    d.crash(0);
    d.start(app("tight", tight)).unwrap();
    d.pipe_at("in", Some("k"), &1u64, 6_500);
    d.pipe_at("in", Some("k"), &1u64, 9_000);
    d.advance_stream_time(100_000);
    let mut want = expect(&[(1_000, 2_001, 2), (9_000, 9_001, 1)]);
    want.insert(("j".into(), 8_000, 8_001), 1);
    assert_eq!(final_values(&d), want, "{:?}", results(&d));
}

#[test]
fn an_open_sliding_window_is_restored_after_a_crash_and_counts_each_record_once() {
    fn plain(f: Flow<u64>) -> Flow<Counts> {
        f.group_by_key::<String>()
            .window(Sliding::of(Duration::from_secs(10)))
            .count()
    }
    let mut d = driver("slides", plain, 1);
    for ts in [1_000, 2_000, 3_000] {
        d.pipe_at("in", Some("k"), &1u64, ts);
    }
    assert_all_committed(&mut d, &group("slides"), "in");
    d.pipe_at("in", Some("k"), &1u64, 4_000);
    d.crash(0);
    d.start(app("slides", plain)).unwrap();
    d.pipe_at("in", Some("k"), &1u64, 5_000);
    d.advance_stream_time(100_000);
    let values = final_values(&d);
    let expected = expect(&[
        (-9_000, 1_001, 1),
        (-8_000, 2_001, 2),
        (-7_000, 3_001, 3),
        (-6_000, 4_001, 4),
        (-5_000, 5_001, 5),
    ]);
    assert_eq!(values, expected, "{:?}", results(&d));
    assert_all_committed(&mut d, &group("slides"), "in");
}

fn repartition_case(f: fn(Flow<String>) -> Flow<Counts>, expected: &[(&str, i64, i64, u64)]) {
    let app =
        || kflow_core::App::new(APP).processor(kflow_core::Processor::new("users", f).input(["in"]).output("out"));
    let mut d = TestDriver::new(app(), &[("in", 2)]).unwrap();
    let users = ["ann", "bo", "ann", "cy", "ann", "bo"];
    for (i, user) in users.iter().enumerate() {
        d.pipe_at("in", None, &user.to_string(), 1_000 + i as i64);
    }
    // Nothing committed: after the crash the inputs are read again and written to the
    // repartition topic a second time.
    d.crash(0);
    d.start(app()).unwrap();
    d.advance_stream_time(100_000);
    assert_eq!(
        d.broker().records("t-users-repartition").len(),
        users.len() * 2,
        "the crashed instance's repartition records were written again"
    );
    let want: BTreeMap<(String, i64, i64), u64> = expected
        .iter()
        .map(|&(u, s, e, n)| ((u.to_string(), s, e), n))
        .collect();
    assert_eq!(final_values(&d), want, "{:?}", results(&d));
    assert_all_committed(&mut d, &group("users"), "in");
    assert_all_committed(&mut d, &group("users"), "t-users-repartition");
}

#[test]
fn session_records_written_twice_to_the_repartition_topic_are_counted_once() {
    repartition_case(
        user_sessions,
        &[
            ("ann", 1_000, 1_005, 3),
            ("bo", 1_001, 1_006, 2),
            ("cy", 1_003, 1_004, 1),
        ],
    );
}

#[test]
fn sliding_records_written_twice_to_the_repartition_topic_are_counted_once() {
    repartition_case(
        user_sliding,
        &[
            ("ann", -9_000, 1_001, 1),
            ("ann", -8_998, 1_003, 2),
            ("ann", -8_996, 1_005, 3),
            ("bo", -8_999, 1_002, 1),
            ("bo", -8_995, 1_006, 2),
            ("cy", -8_997, 1_004, 1),
        ],
    );
}

#[test]
fn every_update_sessions_emit_the_restored_value_again_after_a_crash() {
    let mut d = driver("running", session_updates, 1);
    d.pipe_at("in", Some("k"), &1u64, 1_000);
    d.pipe_at("in", Some("k"), &1u64, 2_000);
    d.crash(0);
    d.start(app("running", session_updates)).unwrap();
    d.pipe_at("in", Some("k"), &1u64, 3_000);
    let got: Vec<u64> = results(&d).into_iter().map(|r| r.3).collect();
    // 1, 2 before the crash; 2 again (the restored session), then 3. The replayed
    // records are not counted again.
    assert_eq!(got, [1, 2, 2, 3], "{:?}", results(&d));
}

#[test]
fn every_update_sliding_windows_emit_the_restored_values_again_after_a_crash() {
    let mut d = driver("running", sliding_updates, 1);
    d.pipe_at("in", Some("k"), &1u64, 1_000);
    d.pipe_at("in", Some("k"), &1u64, 2_000);
    d.crash(0);
    d.start(app("running", sliding_updates)).unwrap();
    d.pipe_at("in", Some("k"), &1u64, 3_000);
    let got: Vec<(i64, u64)> = results(&d).into_iter().map(|r| (r.2, r.3)).collect();
    // Before the crash: window 1 s = 1, then window 2 s = 2 (the 1 s window closed as
    // the 2 s record arrived). After: the open window again (2), then window 3 s = 3;
    // the replayed records are not counted again.
    assert_eq!(got, [(1_001, 1), (2_001, 2), (2_001, 2), (3_001, 3)]);
}
