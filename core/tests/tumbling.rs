//! Tumbling windows.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::window::{Tumbling, Window, WindowResult};
use kflow_core::{App, DropReason, Flow, Processor, TestDriver};

type Counts = WindowResult<String, u64>;

fn counts(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Tumbling::of(Duration::from_secs(10)).grace(Duration::from_secs(2)))
        .count()
}

fn out(d: &TestDriver) -> Vec<(String, i64, i64, u64)> {
    d.output_values::<Counts>("out")
        .into_iter()
        .map(|w| (w.key, w.window.start, w.window.end, w.value))
        .collect()
}

#[test]
fn a_record_exactly_at_a_window_end_belongs_to_the_next_window() {
    let mut d = driver("counts", counts, 1);
    d.pipe_at("in", Some("k"), &1u64, 9_999);
    d.pipe_at("in", Some("k"), &1u64, 10_000);
    d.advance_stream_time(22_000);
    assert_eq!(out(&d), [("k".into(), 0, 10_000, 1), ("k".into(), 10_000, 20_000, 1)]);
    assert_all_committed(&mut d, &group("counts"), "in");
}

#[test]
fn windows_emit_once_when_stream_time_reaches_end_plus_grace() {
    let mut d = driver("counts", counts, 1);
    d.pipe_at("in", Some("a"), &1u64, 1_000);
    d.pipe_at("in", Some("b"), &1u64, 2_000);
    d.pipe_at("in", Some("a"), &1u64, 3_000);
    d.pipe_at("in", Some("a"), &1u64, 11_999); // stream time 11 999 < 10 000 + 2 000
    assert!(out(&d).is_empty(), "still within grace");
    d.pipe_at("in", Some("b"), &1u64, 12_000); // reaches end + grace: [0, 10 s) closes
    assert_eq!(out(&d), [("a".into(), 0, 10_000, 2), ("b".into(), 0, 10_000, 1)]);
    let first = &d.output::<Counts>("out")[0];
    assert_eq!(
        first.key.as_deref(),
        Some(&b"a"[..]),
        "results are keyed by the group key"
    );
    assert_eq!(
        first.meta.timestamp, 3_000,
        "a result carries its newest record's timestamp"
    );
}

#[test]
fn out_of_order_records_within_grace_are_counted() {
    let mut d = driver("counts", counts, 1);
    d.pipe_at("in", Some("k"), &1u64, 5_000);
    d.pipe_at("in", Some("k"), &1u64, 11_000); // next window; stream time 11 000
    d.pipe_at("in", Some("k"), &1u64, 9_000); // late-ish but within grace
    d.advance_stream_time(30_000);
    assert_eq!(out(&d), [("k".into(), 0, 10_000, 2), ("k".into(), 10_000, 20_000, 1)]);
    assert_eq!(d.dropped("counts", DropReason::Late), 0);
}

#[test]
fn records_beyond_grace_are_dropped_counted_and_still_committed() {
    let mut d = driver("counts", counts, 1);
    d.pipe_at("in", Some("k"), &1u64, 5_000);
    d.pipe_at("in", Some("k"), &1u64, 12_000); // closes [0, 10 s)
    d.pipe_at("in", Some("k"), &1u64, 9_000); // too late
    d.advance_stream_time(30_000);
    assert_eq!(out(&d), [("k".into(), 0, 10_000, 1), ("k".into(), 10_000, 20_000, 1)]);
    assert_eq!(d.dropped("counts", DropReason::Late), 1);
    assert_all_committed(&mut d, &group("counts"), "in");
}

#[test]
fn late_records_can_be_routed_to_a_topic() {
    fn routed(f: Flow<u64>) -> Flow<Counts> {
        f.group_by_key::<String>()
            .window(Tumbling::of(Duration::from_secs(10)))
            .late_to("late")
            .count()
    }
    let mut d = driver("routed", routed, 1);
    d.pipe_at("in", Some("k"), &7u64, 15_000);
    d.pipe_at("in", Some("k"), &8u64, 1_000);
    let late = d.output::<u64>("late");
    assert_eq!(
        late.iter().map(|r| (r.value, r.meta.timestamp)).collect::<Vec<_>>(),
        [(8, 1_000)]
    );
    assert_eq!(late[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(d.dropped("routed", DropReason::Late), 1);
}

#[test]
fn an_open_windows_records_commit_once_its_state_is_in_the_changelog() {
    let mut d = driver("counts", counts, 1);
    d.pipe_at("in", Some("k"), &1u64, 1_000);
    d.pipe_at("in", Some("k"), &1u64, 2_000);
    assert!(out(&d).is_empty(), "the window is open");
    // Changed slots are written at most every 20 ms while records trickle in.
    d.advance_time(Duration::from_millis(20));
    assert_eq!(
        d.committed(&group("counts"), "in", 0).map(|o| o.0),
        Some(2),
        "nothing is held by the open window"
    );
    let slots: Vec<String> = d
        .broker()
        .records("t-counts-window-changelog")
        .iter()
        .filter(|r| r.key.as_deref().is_some_and(|k| k[0] == 0))
        .filter_map(|r| r.value.as_deref().map(|v| String::from_utf8_lossy(v).into_owned()))
        .collect();
    assert!(
        slots.last().is_some_and(|v| v.starts_with(r#"{"a":2,"#)),
        "the window's count is in its changelog: {slots:?}"
    );
    d.pipe_at("in", Some("k"), &1u64, 15_000); // closes [0, 10 s); opens [10 s, 20 s)
    assert_eq!(out(&d).len(), 1);
    assert_all_committed(&mut d, &group("counts"), "in");
}

#[test]
fn a_crash_loses_no_window_content_because_it_is_replayed() {
    let mut d = driver("counts", counts, 1);
    d.pipe_at("in", Some("k"), &1u64, 1_000);
    d.pipe_at("in", Some("k"), &1u64, 2_000);
    d.committed(&group("counts"), "in", 0);
    d.crash(0);
    d.start(app("counts", counts)).unwrap();
    d.pipe_at("in", Some("k"), &1u64, 3_000);
    d.advance_stream_time(20_000);
    assert_eq!(out(&d), [("k".into(), 0, 10_000, 3)]);
    assert_all_committed(&mut d, &group("counts"), "in");
}

#[test]
fn every_update_mode_emits_the_running_value_after_each_record() {
    fn running(f: Flow<u64>) -> Flow<Counts> {
        f.group_by_key::<String>()
            .window(Tumbling::of(Duration::from_secs(10)))
            .emit_every_update()
            .count()
    }
    let mut d = driver("running", running, 1);
    d.pipe_at("in", Some("k"), &1u64, 1_000);
    d.pipe_at("in", Some("k"), &1u64, 2_000);
    d.pipe_at("in", Some("j"), &1u64, 3_000);
    assert_eq!(
        out(&d),
        [
            ("k".into(), 0, 10_000, 1),
            ("k".into(), 0, 10_000, 2),
            ("j".into(), 0, 10_000, 1)
        ]
    );
    d.advance_time(Duration::from_millis(20));
    assert_eq!(
        d.committed(&group("running"), "in", 0).map(|o| o.0),
        Some(3),
        "updates written and state in the changelog: nothing is held"
    );
    d.advance_stream_time(10_000);
    assert_eq!(out(&d).len(), 3, "no extra result at close");
    assert_all_committed(&mut d, &group("running"), "in");
}

#[test]
fn aggregate_folds_values_into_any_accumulator() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Default)]
    struct Stats {
        n: u64,
        sum: u64,
        max: u64,
    }
    fn stats(f: Flow<u64>) -> Flow<WindowResult<String, Stats>> {
        f.group_by_key::<String>()
            .window(Tumbling::of(Duration::from_secs(10)))
            .aggregate(Stats::default, |s, v| {
                s.n += 1;
                s.sum += v;
                s.max = s.max.max(v);
            })
    }
    let app = App::new(APP).processor(Processor::new("stats", stats).input(["in"]).output("out"));
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    for (i, v) in [4u64, 9, 2].iter().enumerate() {
        d.pipe_at("in", Some("k"), v, i as i64);
    }
    d.advance_stream_time(10_000);
    let out = d.output_values::<WindowResult<String, Stats>>("out");
    assert_eq!(
        out,
        [WindowResult {
            key: "k".into(),
            window: Window { start: 0, end: 10_000 },
            value: Stats { n: 3, sum: 15, max: 9 }
        }]
    );
}

fn idle_counts(f: Flow<u64>) -> Flow<Counts> {
    f.group_by_key::<String>()
        .window(Tumbling::of(Duration::from_secs(10)).grace(Duration::from_secs(2)))
        .idle_advance(Duration::from_secs(30))
        .count()
}

#[test]
fn without_idle_advance_a_quiet_partition_keeps_its_last_window_open() {
    let mut d = driver("counts", counts, 1);
    d.pipe_at("in", Some("a"), &1u64, 1_000);
    d.pipe_at("in", Some("a"), &1u64, 2_000);
    d.advance_time(Duration::from_secs(3_600));
    assert!(out(&d).is_empty(), "stream time moves only with records");
    assert_all_committed(&mut d, &group("counts"), "in");
    d.pipe_at("in", Some("a"), &1u64, 13_000);
    assert_eq!(out(&d), [("a".into(), 0, 10_000, 2)], "the next record closes it");
}

#[test]
fn idle_advance_closes_a_quiet_partitions_windows_by_the_wall_clock() {
    let mut d = driver("idle", idle_counts, 1);
    d.pipe_at("in", Some("a"), &1u64, 1_000);
    d.pipe_at("in", Some("b"), &1u64, 2_000);
    d.advance_time(Duration::from_secs(29));
    assert!(out(&d).is_empty(), "idle for less than 30 s: nothing moves");
    d.advance_time(Duration::from_secs(1));
    // Stream time is now 2 000 + 30 000 ms, past [0, 10 s) + 2 s of grace.
    assert_eq!(out(&d), [("a".into(), 0, 10_000, 1), ("b".into(), 0, 10_000, 1)]);
    assert_all_committed(&mut d, &group("idle"), "in");

    // A record for the closed window is late now; a newer one opens a window as usual,
    // and the wall clock closes it too once the partition is quiet again.
    d.pipe_at("in", Some("a"), &1u64, 9_000);
    assert_eq!(d.dropped("idle", DropReason::Late), 1);
    d.pipe_at("in", Some("a"), &1u64, 45_000);
    d.advance_time(Duration::from_secs(30));
    assert_eq!(out(&d)[2..], [("a".into(), 40_000, 50_000, 1)]);
    assert_all_committed(&mut d, &group("idle"), "in");
}
