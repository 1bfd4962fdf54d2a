//! Window state across crashes and restarts: restored from the changelog, never emitted
//! again with a different value, and never folding a record twice.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kflow_core::window::{Hopping, Tumbling, WindowResult};
use kflow_core::{Flow, TestDriver};

type Counts = WindowResult<String, u64>;

fn tumbling(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Tumbling::of(Duration::from_secs(10)).grace(Duration::from_secs(5)))
        .count()
}

fn hopping(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Hopping::of(Duration::from_secs(60), Duration::from_secs(30)))
        .count()
}

/// Per user (the value), over a repartition topic.
fn per_user(f: Flow<String>) -> Flow<Counts> {
    f.group_by(|user| user.clone())
        .window(Tumbling::of(Duration::from_secs(10)))
        .count()
}

fn every_update(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Tumbling::of(Duration::from_secs(10)))
        .emit_every_update()
        .count()
}

/// Every result as (key, start, end, value), in output order.
fn results(d: &TestDriver) -> Vec<(String, i64, i64, u64)> {
    d.output_values::<Counts>("out")
        .into_iter()
        .map(|w| (w.key, w.window.start, w.window.end, w.value))
        .collect()
}

/// The value of each window, checking that no window was emitted with two values.
fn final_values(d: &TestDriver) -> BTreeMap<(String, i64), u64> {
    let mut seen = BTreeMap::new();
    for (key, start, _, value) in results(d) {
        if let Some(before) = seen.insert((key.clone(), start), value) {
            assert_eq!(
                before, value,
                "window {key}@{start} emitted as {before}, then as {value}"
            );
        }
    }
    seen
}

/// Restarts the app, crashing it `crash`; either way 20 ms after the last record, so
/// that its state changes were written (window stores write at most every 20 ms).
fn restart(d: &mut TestDriver, crash: bool, name: &str, f: fn(Flow<u64>) -> Flow<Counts>) {
    d.advance_time(std::time::Duration::from_millis(20));
    if crash {
        d.crash(0);
    } else {
        d.stop(0).unwrap();
    }
    d.start(app(name, f)).unwrap();
}

fn tumbling_case(crash: bool) {
    let mut d = driver("counts", tumbling, 1);
    for ts in [1_000, 12_000, 9_000, 15_000] {
        d.pipe_at("in", Some("k"), &1u64, ts);
    }
    assert_eq!(results(&d), [("k".into(), 0, 10_000, 2)]);
    restart(&mut d, crash, "counts", tumbling);
    d.advance_stream_time(40_000);
    let got = results(&d);
    assert_eq!(
        got.iter().filter(|r| r.1 == 0).map(|r| r.3).collect::<Vec<_>>(),
        [2],
        "[0, 10 s) is not emitted again after the restart: {got:?}"
    );
    assert_eq!(final_values(&d).get(&("k".into(), 10_000)), Some(&2), "{got:?}");
    assert_all_committed(&mut d, &group("counts"), "in");
}

#[test]
fn a_closed_tumbling_window_keeps_its_value_across_a_crash() {
    tumbling_case(true);
}

#[test]
fn a_closed_tumbling_window_keeps_its_value_across_a_graceful_restart() {
    tumbling_case(false);
}

fn hopping_case(crash: bool) {
    let mut d = driver("hops", hopping, 1);
    for ts in [10_000, 40_000, 61_000] {
        d.pipe_at("in", Some("k"), &1u64, ts);
    }
    assert_eq!(final_values(&d).get(&("k".into(), 0)), Some(&2));
    restart(&mut d, crash, "hops", hopping);
    d.advance_stream_time(200_000);
    let values = final_values(&d);
    let expected: BTreeMap<(String, i64), u64> = [(-30_000, 1), (0, 2), (30_000, 2), (60_000, 1)]
        .map(|(s, n)| (("k".to_string(), s), n))
        .into();
    assert_eq!(
        values,
        expected,
        "every window exactly once in value: {:?}",
        results(&d)
    );
    assert_all_committed(&mut d, &group("hops"), "in");
}

#[test]
fn a_closed_hopping_window_keeps_its_value_across_a_crash() {
    hopping_case(true);
}

#[test]
fn a_closed_hopping_window_keeps_its_value_across_a_graceful_restart() {
    hopping_case(false);
}

#[test]
fn an_open_window_is_restored_after_a_crash_and_counts_each_record_once() {
    let mut d = driver("counts", tumbling, 2);
    for (i, key) in ["a", "b", "a", "a", "b"].iter().enumerate() {
        d.pipe_at("in", Some(key), &1u64, 1_000 + i as i64);
    }
    // Committed up to here: these five are in the changelog and will not be replayed.
    assert_all_committed(&mut d, &group("counts"), "in");
    for key in ["a", "b"] {
        d.pipe_at("in", Some(key), &1u64, 6_000);
    }
    // Not committed: replayed after the crash into the restored window, which already
    // reflects them.
    d.crash(0);
    d.start(app("counts", tumbling)).unwrap();
    d.pipe_at("in", Some("a"), &1u64, 7_000);
    d.advance_stream_time(30_000);
    let values = final_values(&d);
    assert_eq!(values.get(&("a".into(), 0)), Some(&5), "{:?}", results(&d));
    assert_eq!(values.get(&("b".into(), 0)), Some(&3), "{:?}", results(&d));
    assert_all_committed(&mut d, &group("counts"), "in");
}

#[test]
fn records_written_twice_to_the_repartition_topic_are_counted_once() {
    let app = || {
        kflow_core::App::new(APP).processor(
            kflow_core::Processor::new("users", per_user)
                .input(["in"])
                .output("out"),
        )
    };
    let mut d = TestDriver::new(app(), &[("in", 2)]).unwrap();
    let users = ["ann", "bo", "ann", "cy", "ann", "bo"];
    for (i, user) in users.iter().enumerate() {
        d.pipe_at("in", None, &user.to_string(), 1_000 + i as i64);
    }
    // Nothing committed: after the crash the inputs are read again and written to the
    // repartition topic a second time.
    d.crash(0);
    d.start(app()).unwrap();
    d.advance_stream_time(30_000);
    assert_eq!(
        d.broker().records("t-users-repartition").len(),
        users.len() * 2,
        "the crashed instance's repartition records were written again"
    );
    let values = final_values(&d);
    let expected: BTreeMap<(String, i64), u64> = [("ann", 3), ("bo", 2), ("cy", 1)]
        .map(|(u, n)| ((u.to_string(), 0), n))
        .into();
    assert_eq!(values, expected, "{:?}", results(&d));
    assert_all_committed(&mut d, &group("users"), "in");
    assert_all_committed(&mut d, &group("users"), "t-users-repartition");
}

#[test]
fn every_update_mode_emits_the_restored_value_again_after_a_crash() {
    let mut d = driver("running", every_update, 1);
    d.pipe_at("in", Some("k"), &1u64, 1_000);
    d.pipe_at("in", Some("k"), &1u64, 2_000);
    d.advance_time(std::time::Duration::from_millis(20));
    d.crash(0);
    d.start(app("running", every_update)).unwrap();
    d.pipe_at("in", Some("k"), &1u64, 3_000);
    let got: Vec<u64> = results(&d).into_iter().map(|r| r.3).collect();
    // 1, 2 before the crash; 2 again (the restored value), then 3. The replayed records
    // are not counted again.
    assert_eq!(got, [1, 2, 2, 3]);
}

#[test]
fn restore_progress_is_in_the_metrics() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let mut d = driver("counts", tumbling, 1);
    for ts in [1_000, 2_000, 3_000] {
        d.pipe_at("in", Some("k"), &1u64, ts);
    }
    d.advance_time(std::time::Duration::from_millis(20));
    d.crash(0);
    d.start(app("counts", tumbling)).unwrap();
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str| {
        snapshot
            .iter()
            .filter(|(key, ..)| key.key().name() == name)
            .map(|(.., v)| match v {
                metrics_util::debugging::DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum::<u64>()
    };
    assert!(
        counter("kflow_state_restore_records_total") >= 4,
        "three slot writes and a marker at least"
    );
    assert_eq!(
        counter("kflow_window_duplicate_records_total"),
        3,
        "the replayed records"
    );
}
