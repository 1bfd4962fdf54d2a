//! On-disk stores (`App::state_dir`): state larger than the in-memory cache, restores
//! that read only the changelog written since the last checkpoint, and the same results
//! as in-memory stores across crashes and restarts.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use kflow_core::window::{Tumbling, WindowResult};
use kflow_core::{App, Flow, Processor, TestDriver};

type Counts = WindowResult<String, u64>;

fn counted(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Tumbling::of(Duration::from_secs(60)))
        .count()
}

fn totals(f: Flow<u64>) -> Flow<(String, u64)> {
    f.group_by_key::<String>().stateful(|key, total: &mut Option<u64>, n| {
        let t = total.get_or_insert(0);
        *t += n;
        [(key.clone(), *t)]
    })
}

/// A fresh state directory.
fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kflow-disk-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn disk_app<In, Out>(name: &str, f: fn(Flow<In>) -> Flow<Out>, dir: &PathBuf, cache: usize) -> App
where
    In: serde::de::DeserializeOwned + Send + 'static,
    Out: serde::Serialize + Send + 'static,
{
    App::new(APP)
        .state_dir(dir)
        .state_cache(cache)
        .processor(Processor::new(name, f).input(["in"]).output("out"))
}

/// The value of each window, checking that none came out with two values.
fn windows(d: &TestDriver) -> BTreeMap<(String, i64), u64> {
    let mut seen = BTreeMap::new();
    for w in d.output_values::<Counts>("out") {
        if let Some(before) = seen.insert((w.key.clone(), w.window.start), w.value) {
            assert_eq!(
                before, w.value,
                "window {}@{} emitted with two values",
                w.key, w.window.start
            );
        }
    }
    seen
}

/// Counts the restore's changelog records while `f` runs.
fn restored_records(f: impl FnOnce()) -> u64 {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    f();
    snapshotter
        .snapshot()
        .into_vec()
        .iter()
        .filter(|(key, ..)| key.key().name() == "kflow_state_restore_records_total")
        .map(|(.., v)| match v {
            metrics_util::debugging::DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

/// Pipes one record for each of `keys` keys at `ts`, one millisecond of processing time
/// apart, and lets the store write them.
fn pipe_keys(d: &mut TestDriver, keys: usize, ts: i64) {
    for k in 0..keys {
        d.pipe_at("in", Some(&format!("k{k:03}")), &1u64, ts);
    }
    d.advance_time(Duration::from_millis(20));
}

#[test]
fn windows_larger_than_the_cache_count_every_record() {
    let dir = state_dir("cache");
    let mut d = TestDriver::new(disk_app("counts", counted, &dir, 10), &[("in", 1)]).unwrap();
    for round in 0..3 {
        pipe_keys(&mut d, 100, 1_000 + round);
    }
    d.advance_stream_time(200_000);
    let got = windows(&d);
    assert_eq!(got.len(), 100, "every key's window: {got:?}");
    assert!(got.values().all(|n| *n == 3), "three records per key: {got:?}");
    assert_all_committed(&mut d, &group("counts"), "in");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_graceful_restart_reads_only_what_was_written_since_the_checkpoint() {
    let dir = state_dir("graceful");
    let mut d = TestDriver::new(disk_app("counts", counted, &dir, 1_000), &[("in", 1)]).unwrap();
    pipe_keys(&mut d, 50, 1_000);
    pipe_keys(&mut d, 50, 2_000);
    let written = d.broker().records("t-counts-window-changelog").len() as u64;
    d.stop(0).unwrap();
    let read = restored_records(|| {
        d.start(disk_app("counts", counted, &dir, 1_000)).unwrap();
    });
    assert!(written >= 100, "the slots were written: {written}");
    assert!(
        read <= 3,
        "the restart reads the checkpoint marker and its own marker, not the {written} records before: {read}"
    );
    pipe_keys(&mut d, 50, 3_000);
    d.advance_stream_time(200_000);
    let got = windows(&d);
    assert_eq!(got.len(), 50);
    assert!(got.values().all(|n| *n == 3), "state from the database: {got:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_crash_restores_the_last_checkpoint_and_the_changelog_after_it() {
    let dir = state_dir("crash");
    let mut d = TestDriver::new(disk_app("counts", counted, &dir, 20), &[("in", 1)]).unwrap();
    pipe_keys(&mut d, 40, 1_000);
    let before = d.broker().records("t-counts-window-changelog").len() as u64;
    // A checkpoint is due every 10 s; the next flush takes it, before it writes.
    d.advance_time(Duration::from_secs(11));
    pipe_keys(&mut d, 40, 2_000);
    // The tail: written after the checkpoint, lost from the database by the crash.
    pipe_keys(&mut d, 40, 3_000);
    let written = d.broker().records("t-counts-window-changelog").len() as u64;
    d.crash(0);
    let read = restored_records(|| {
        d.start(disk_app("counts", counted, &dir, 20)).unwrap();
    });
    assert!(
        before >= 40 && read <= written - before + 2,
        "the restore reads from the checkpoint on, not the {before} records before it ({read} of {written} read)"
    );
    pipe_keys(&mut d, 40, 4_000);
    d.advance_stream_time(200_000);
    let got = windows(&d);
    assert_eq!(got.len(), 40);
    assert!(got.values().all(|n| *n == 4), "every record once: {got:?}");
    assert_all_committed(&mut d, &group("counts"), "in");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn custom_state_larger_than_the_cache_survives_crashes() {
    let dir = state_dir("keyed");
    let mut d = TestDriver::new(disk_app("totals", totals, &dir, 5), &[("in", 1)]).unwrap();
    for round in 1..=4u64 {
        pipe_keys(&mut d, 30, 0);
        if round % 2 == 0 {
            d.advance_time(Duration::from_secs(11));
            d.crash(0);
        } else {
            d.stop(0).unwrap();
        }
        d.start(disk_app("totals", totals, &dir, 5)).unwrap();
    }
    pipe_keys(&mut d, 30, 0);
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for (key, total) in d.output_values::<(String, u64)>("out") {
        let before = last.insert(key.clone(), total).unwrap_or(0);
        assert!(total == before + 1 || total == before, "{key}: {before} then {total}");
    }
    assert_eq!(last.len(), 30);
    assert!(last.values().all(|t| *t == 5), "five records per key: {last:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn exactly_once_with_a_state_dir_restores_committed_state() {
    let dir = state_dir("eos");
    let app = |dir: &PathBuf| {
        App::new(APP)
            .instance_id("one")
            .state_dir(dir)
            .state_cache(5)
            .processor(
                Processor::new("counts", counted)
                    .input(["in"])
                    .output("out")
                    .exactly_once(),
            )
    };
    let mut d = TestDriver::new(app(&dir), &[("in", 1)]).unwrap();
    pipe_keys(&mut d, 20, 1_000);
    d.advance_time(Duration::from_secs(5));
    pipe_keys(&mut d, 20, 2_000);
    // Uncommitted when the app crashes: replayed after the restart.
    d.crash(0);
    d.start(app(&dir)).unwrap();
    d.advance_stream_time(200_000);
    d.advance_time(Duration::from_secs(5));
    d.advance_time(Duration::from_secs(5));
    let got = windows(&d);
    assert_eq!(got.len(), 20);
    assert!(got.values().all(|n| *n == 2), "{got:?}");
    std::fs::remove_dir_all(dir).ok();
}
