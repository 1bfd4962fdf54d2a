//! Exactly-once processors on the in-memory broker, whose transactions show what Kafka's
//! `read_committed` readers would see: a transaction's records appear when it commits,
//! together with its offsets, and an aborted one's never do. (Neither real test broker
//! can show that: tansu returns aborted records to `read_committed` readers and
//! librdkafka's mock cluster ignores `EndTxn`.) State joins the transactions: what a
//! restart restores is the state of the last committed transaction.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kflow_core::window::{Session, Tumbling, WindowResult};
use kflow_core::{App, Flow, Processor, TestDriver};

type Counts = WindowResult<String, u64>;

/// One commit interval (the default, 5 s) of processing time.
const COMMIT: Duration = Duration::from_secs(5);

fn double(f: Flow<u64>) -> Flow<u64> {
    f.map(|v| v * 2)
}

fn counted(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Tumbling::of(Duration::from_secs(10)))
        .count()
}

/// Per user (the value), over a repartition topic: two stages, two transactions.
fn per_user(f: Flow<String>) -> Flow<Counts> {
    f.group_by(|user| user.clone())
        .window(Tumbling::of(Duration::from_secs(10)))
        .count()
}

fn sessions(f: Flow<String>) -> Flow<Counts> {
    f.group_by(|user| user.clone())
        .window(Session::with_gap(Duration::from_secs(10)))
        .count()
}

fn totals(f: Flow<u64>) -> Flow<u64> {
    f.group_by_key::<String>().stateful(|_key, total: &mut Option<u64>, n| {
        let t = total.get_or_insert(0);
        *t += n;
        [*t]
    })
}

fn eos_app<In, Out>(name: &str, f: fn(Flow<In>) -> Flow<Out>) -> App
where
    In: serde::de::DeserializeOwned + Send + 'static,
    Out: serde::Serialize + Send + 'static,
{
    App::new(APP)
        .instance_id("one")
        .processor(Processor::new(name, f).input(["in"]).output("out").exactly_once())
}

fn eos_driver<In, Out>(name: &str, f: fn(Flow<In>) -> Flow<Out>) -> TestDriver
where
    In: serde::de::DeserializeOwned + Send + 'static,
    Out: serde::Serialize + Send + 'static,
{
    TestDriver::new(eos_app(name, f), &[("in", 1)]).expect("driver starts")
}

/// Every window result as (key, start, value), in output order.
fn results(d: &TestDriver) -> Vec<(String, i64, u64)> {
    d.output_values::<Counts>("out")
        .into_iter()
        .map(|w| (w.key, w.window.start, w.value))
        .collect()
}

/// Commits twice: once for a group_by's repartition records, once for what the window
/// (or state) stage made of them.
fn commit_twice(d: &mut TestDriver) {
    d.advance_time(COMMIT);
    d.advance_time(COMMIT);
}

#[test]
fn outputs_appear_only_when_their_transaction_commits() {
    let mut d = eos_driver("double", double);
    for v in [1u64, 2, 3] {
        d.pipe("in", &v);
    }
    assert!(d.output_values::<u64>("out").is_empty(), "nothing committed yet");
    assert_eq!(d.broker().committed_total(&group("double"), "in"), 0);
    d.advance_time(COMMIT);
    let mut out = d.output_values::<u64>("out");
    out.sort();
    assert_eq!(out, [2, 4, 6]);
    assert_eq!(
        d.committed_total(&group("double"), "in"),
        3,
        "offsets commit with the outputs"
    );
}

#[test]
fn a_crash_before_the_commit_leaves_no_trace_and_the_restart_does_it_once() {
    let mut d = eos_driver("double", double);
    for v in [1u64, 2, 3] {
        d.pipe("in", &v);
    }
    d.crash(0);
    assert!(d.output_values::<u64>("out").is_empty(), "the open transaction is gone");
    d.start(eos_app("double", double)).unwrap();
    d.advance_time(COMMIT);
    let mut out = d.output_values::<u64>("out");
    out.sort();
    assert_eq!(out, [2, 4, 6], "each output once");
}

#[test]
fn a_window_result_commits_with_its_changelog_writes() {
    let mut d = eos_driver("counts", counted);
    for ts in [1_000, 2_000, 12_000] {
        d.pipe_at("in", Some("k"), &1u64, ts);
    }
    assert!(results(&d).is_empty(), "the result is in the open transaction");
    let changelog = "t-counts-window-changelog";
    let before = d.broker().records(changelog);
    assert!(
        before
            .iter()
            .all(|r| r.key.as_deref() == Some(&[2u8][..]) || r.key.is_none()),
        "before the commit, the changelog holds restore markers only: {before:?}"
    );
    d.advance_time(COMMIT);
    assert_eq!(results(&d), [("k".into(), 0, 2)]);
    let after = d.broker().records(changelog);
    assert!(
        after.len() > before.len(),
        "the result's transaction holds the store's changes: {after:?}"
    );
}

fn window_crash_case(crash_after_commits: usize) {
    let mut d = eos_driver("counts", per_user);
    for ts in [1_000, 2_000, 12_000] {
        d.pipe_at("in", None, &"k", ts);
    }
    for _ in 0..crash_after_commits {
        d.advance_time(COMMIT);
    }
    d.advance_time(Duration::from_millis(20));
    d.crash(0);
    d.start(eos_app("counts", per_user)).unwrap();
    commit_twice(&mut d);
    d.pipe_at("in", None, &"k", 25_000);
    commit_twice(&mut d);
    assert_eq!(
        results(&d),
        [("k".into(), 0, 2), ("k".into(), 10_000, 1)],
        "each window once, with its value (crash after {crash_after_commits} commits)"
    );
    d.advance_time(Duration::from_millis(20));
    assert_eq!(d.committed_total(&group("counts"), "in"), 4);
}

#[test]
fn a_window_crashed_before_any_commit_is_emitted_once() {
    window_crash_case(0);
}

#[test]
fn a_window_crashed_after_its_input_was_repartitioned_is_emitted_once() {
    window_crash_case(1);
}

#[test]
fn a_window_crashed_after_its_result_committed_is_not_emitted_again() {
    window_crash_case(2);
}

#[test]
fn custom_state_crashed_between_commits_applies_each_record_once() {
    let mut d = eos_driver("totals", totals);
    d.pipe_at("in", Some("k"), &1u64, 0);
    commit_twice(&mut d);
    assert_eq!(d.output_values::<u64>("out"), [1]);
    d.pipe_at("in", Some("k"), &2u64, 0);
    d.advance_time(COMMIT);
    d.crash(0);
    d.start(eos_app("totals", totals)).unwrap();
    d.pipe_at("in", Some("k"), &4u64, 0);
    commit_twice(&mut d);
    assert_eq!(d.output_values::<u64>("out"), [1, 3, 7], "each total once");
}

/// Inputs for `keys` keys, `per_key` records each, one second apart per key.
fn inputs(keys: usize, per_key: i64) -> Vec<(String, i64)> {
    let mut all = Vec::new();
    for i in 0..per_key {
        for k in 0..keys {
            all.push((format!("k{k}"), i * 1_000 + k as i64));
        }
    }
    all
}

/// Crashes the app after every `every` inputs, at a different point of the commit
/// cycle each time, and checks that every window came out exactly once with the count
/// of its inputs: not even an identical re-emission.
fn crash_loop(
    name: &str,
    f: fn(Flow<String>) -> Flow<Counts>,
    expected: impl Fn(&[(String, i64)]) -> BTreeMap<(String, i64), u64>,
) {
    let all = inputs(4, 60);
    let mut d = eos_driver(name, f);
    for (i, chunk) in all.chunks(20).enumerate() {
        for (key, ts) in chunk {
            d.pipe_at("in", None, key, *ts);
        }
        match i % 4 {
            0 => {}
            1 => d.advance_time(COMMIT),
            2 => commit_twice(&mut d),
            _ => d.advance_time(Duration::from_millis(2_500)),
        }
        d.crash(0);
        d.start(eos_app(name, f)).unwrap();
    }
    commit_twice(&mut d);
    d.advance_stream_time(1_000_000);
    commit_twice(&mut d);
    d.advance_stream_time(2_000_000);
    commit_twice(&mut d);
    let got = results(&d);
    let mut values = BTreeMap::new();
    for (key, start, value) in &got {
        assert!(
            values.insert((key.clone(), *start), *value).is_none(),
            "window {key}@{start} emitted twice: {got:?}"
        );
    }
    assert_eq!(values, expected(&all));
}

#[test]
fn tumbling_windows_crashed_again_and_again_come_out_once_each() {
    crash_loop("counts", per_user, |all| {
        let mut want = BTreeMap::new();
        for (key, ts) in all {
            *want.entry((key.clone(), ts - ts % 10_000)).or_insert(0) += 1;
        }
        want
    });
}

#[test]
fn sessions_crashed_again_and_again_come_out_once_each() {
    // Records one second apart per key: one session per key, from its first record.
    crash_loop("sessions", sessions, |all| {
        let mut want = BTreeMap::new();
        for (key, ts) in all {
            let first = *want
                .keys()
                .find(|(k, _): &&(String, i64)| k == key)
                .map(|(_, s)| s)
                .unwrap_or(ts);
            *want.entry((key.clone(), first)).or_insert(0) += 1;
        }
        want
    });
}

#[test]
fn a_commit_right_after_a_result_waits_for_the_changelog_writes_that_follow_it() {
    let mut d = eos_driver("counts", counted);
    d.pipe_at("in", Some("k"), &1u64, 1_000);
    d.advance_time(COMMIT);
    // A flush now (the store writes at most every 20 ms)...
    d.pipe_at("in", Some("k"), &1u64, 5_000);
    // ...so the deletion of [0, 10 s), closed by stream time 1 ms later and written once
    // its result was delivered, waits for the next one. A commit now must wait for it
    // too, or the restart would find the window still in the store, past its end, and
    // emit it again.
    d.advance_stream_time(100_000);
    assert_eq!(d.committed_total(&group("counts"), "in"), 2);
    assert_eq!(results(&d), [("k".into(), 0, 2)]);
    d.crash(0);
    d.start(eos_app("counts", counted)).unwrap();
    d.advance_stream_time(200_000);
    commit_twice(&mut d);
    assert_eq!(results(&d), [("k".into(), 0, 2)], "[0, 10 s) once");
}
