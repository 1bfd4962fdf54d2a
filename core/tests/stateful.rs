//! Custom keyed state (`Grouped::stateful`): restored after crashes and restarts, each
//! record applied once, outputs at least once.

mod common;

use common::*;
use kflow_core::{App, Flow, Processor, TestDriver};

/// A running total per key.
fn totals(f: Flow<u64>) -> Flow<u64> {
    f.group_by_key::<String>().stateful(|_key, total: &mut Option<u64>, n| {
        let t = total.get_or_insert(0);
        *t += n;
        [*t]
    })
}

/// How often each id (the value) was seen so far, over a repartition topic.
fn sightings(f: Flow<String>) -> Flow<(String, u64)> {
    f.group_by(|id| id.clone()).stateful(|id, n: &mut Option<u64>, _| {
        let n = n.get_or_insert(0);
        *n += 1;
        [(id.clone(), *n)]
    })
}

/// Counts up to 2, then clears the key's state (and emits nothing for that record).
fn pairs(f: Flow<u64>) -> Flow<u64> {
    f.group_by_key::<String>().stateful(|_key, n: &mut Option<u64>, _| {
        let count = n.unwrap_or(0) + 1;
        if count == 2 {
            *n = None;
            Some(count)
        } else {
            *n = Some(count);
            None
        }
    })
}

fn outputs(d: &TestDriver) -> Vec<u64> {
    d.output_values::<u64>("out")
}

#[test]
fn running_totals_continue_from_the_restored_state_after_a_crash() {
    let mut d = driver("totals", totals, 1);
    for n in [1, 2, 3] {
        d.pipe_at("in", Some("k"), &n, 0);
    }
    assert_eq!(outputs(&d), [1, 3, 6]);
    // Not committed yet (the commit interval did not pass): replayed after the crash, and
    // skipped, since the restored state already reflects them.
    d.crash(0);
    d.start(app("totals", totals)).unwrap();
    d.pipe_at("in", Some("k"), &10u64, 0);
    d.pipe_at("in", Some("j"), &5u64, 0);
    assert_eq!(outputs(&d), [1, 3, 6, 16, 5], "no record applied twice");
    assert_all_committed(&mut d, &group("totals"), "in");
}

#[test]
fn the_state_survives_a_graceful_restart() {
    let mut d = driver("totals", totals, 2);
    for (key, n) in [("a", 1u64), ("b", 10), ("a", 2)] {
        d.pipe_at("in", Some(key), &n, 0);
    }
    d.stop(0).unwrap();
    d.start(app("totals", totals)).unwrap();
    d.pipe_at("in", Some("a"), &100u64, 0);
    d.pipe_at("in", Some("b"), &100u64, 0);
    let mut got = outputs(&d);
    got.sort();
    assert_eq!(got, [1, 3, 10, 103, 110]);
    assert_all_committed(&mut d, &group("totals"), "in");
}

#[test]
fn the_state_is_in_the_changelog_topic_and_offsets_commit() {
    let mut d = driver("totals", totals, 1);
    for n in [4u64, 5] {
        d.pipe_at("in", Some("k"), &n, 0);
    }
    assert_all_committed(&mut d, &group("totals"), "in");
    let entries: Vec<(Vec<u8>, serde_json::Value)> = d
        .broker()
        .records("t-totals-state-changelog")
        .into_iter()
        .filter_map(|r| {
            let (key, value) = (r.key?, r.value?);
            (key.first() == Some(&5)).then(|| (key.to_vec(), serde_json::from_slice(&value).unwrap()))
        })
        .collect();
    let states: Vec<u64> = entries.iter().map(|(_, v)| v["s"][0].as_u64().unwrap()).collect();
    assert_eq!(states, [4, 9], "one write per record, the state after it");
    assert_eq!(entries[0].0, b"\x05k", "kind byte, then the key");
}

#[test]
fn records_written_twice_to_the_repartition_topic_are_applied_once() {
    let app = || App::new(APP).processor(Processor::new("ids", sightings).input(["in"]).output("out"));
    let mut d = TestDriver::new(app(), &[("in", 2)]).unwrap();
    let ids = ["x", "y", "x", "z", "y"];
    for id in ids {
        d.pipe_at("in", None, &id.to_string(), 0);
    }
    // Nothing committed: the inputs are read again and re-written to the repartition
    // topic; the copies carry their origin and are skipped.
    d.crash(0);
    d.start(app()).unwrap();
    d.pipe_at("in", None, &"w".to_string(), 0);
    d.pipe_at("in", None, &"x".to_string(), 0);
    assert_eq!(
        d.broker().records("t-ids-repartition").len(),
        ids.len() * 2 + 2,
        "the crashed instance's repartition records were written again"
    );
    let mut last = std::collections::BTreeMap::new();
    for (id, n) in d.output_values::<(String, u64)>("out") {
        last.insert(id, n);
    }
    let expected: std::collections::BTreeMap<String, u64> = [("w", 1), ("x", 3), ("y", 2), ("z", 1)]
        .map(|(id, n)| (id.to_string(), n))
        .into();
    assert_eq!(last, expected, "each record counted once");
    assert_all_committed(&mut d, &group("ids"), "in");
    assert_all_committed(&mut d, &group("ids"), "t-ids-repartition");
}

#[test]
fn deduplication_emits_each_id_once_across_a_crash() {
    fn first_seen(f: Flow<String>) -> Flow<String> {
        f.group_by(|id| id.clone())
            .stateful(|_id, seen: &mut Option<()>, id| seen.replace(()).is_none().then_some(id))
    }
    let mut d = driver("ids", first_seen, 1);
    for id in ["a", "b", "a"] {
        d.pipe_at("in", None, &id.to_string(), 0);
    }
    d.crash(0);
    d.start(app("ids", first_seen)).unwrap();
    d.pipe_at("in", None, &"b".to_string(), 0);
    d.pipe_at("in", None, &"c".to_string(), 0);
    assert_eq!(d.output_values::<String>("out"), ["a", "b", "c"]);
}

#[test]
fn a_cleared_state_is_not_rebuilt_by_a_replay() {
    let mut d = driver("pairs", pairs, 1);
    for _ in 0..3 {
        d.pipe_at("in", Some("k"), &1u64, 0);
    }
    assert_eq!(outputs(&d), [2], "the third record starts a new pair");
    d.crash(0);
    d.start(app("pairs", pairs)).unwrap();
    d.pipe_at("in", Some("k"), &1u64, 0);
    assert_eq!(outputs(&d), [2, 2], "the replayed records count for nothing");
}

#[test]
fn a_state_change_is_kept_only_once_its_outputs_were_written() {
    let mut d = driver("totals", totals, 1);
    d.pipe_at("in", Some("k"), &1u64, 0);
    d.broker().inject_produce_errors("out", 1);
    d.pipe_at("in", Some("k"), &2u64, 0);
    let error = d.app_error(0).expect("the failed output stops the app");
    assert!(error.contains("injected produce error"), "{error}");
    assert_eq!(outputs(&d), [1]);
    // The total 3 was never written out, so it is not the restored state either: the
    // record is applied again and its output comes out this time.
    d.start(app("totals", totals)).unwrap();
    d.pipe_at("in", Some("k"), &4u64, 0);
    assert_eq!(outputs(&d), [1, 3, 7], "no output lost, no record applied twice");
    assert_all_committed(&mut d, &group("totals"), "in");
}
