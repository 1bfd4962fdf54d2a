//! `Flow::group_by` through the repartition topic, and `group_by_key`.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::window::{Tumbling, WindowResult};
use kflow_core::{App, Flow, Processor, TestDriver};

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct View {
    user: String,
    page: String,
}

fn views_per_user(f: Flow<View>) -> Flow<WindowResult<String, u64>> {
    f.group_by(|v| v.user.clone())
        .window(Tumbling::of(Duration::from_secs(60)))
        .count()
}

#[test]
fn regroups_through_the_repartition_topic_so_each_key_counts_once() {
    let app = App::new(APP).processor(Processor::new("views", views_per_user).input(["in"]).output("out"));
    let mut d = TestDriver::new(app, &[("in", 3)]).unwrap();
    // The same user arrives on every input partition (explicit partitions, no key).
    for (i, user) in ["ann", "bo", "ann", "ann", "bo", "cy"].iter().enumerate() {
        let value = serde_json::to_vec(&View {
            user: user.to_string(),
            page: "/".into(),
        })
        .unwrap();
        d.pipe_record(
            kflow_core::transport::OutRecord::new("in", value)
                .with_partition(i as i32 % 3)
                .with_timestamp(1_000),
        );
    }
    let repartition = d.broker().records("t-views-repartition");
    assert_eq!(repartition.len(), 6, "every record went through the repartition topic");
    assert_eq!(d.broker().partitions("t-views-repartition"), Some(3));
    d.advance_stream_time(60_000);
    let mut counts: Vec<(String, u64)> = d
        .output_values::<WindowResult<String, u64>>("out")
        .into_iter()
        .map(|w| (w.key, w.value))
        .collect();
    counts.sort();
    assert_eq!(counts, [("ann".into(), 3), ("bo".into(), 2), ("cy".into(), 1)]);
    assert_all_committed(&mut d, &group("views"), "in");
    assert_all_committed(&mut d, &group("views"), "t-views-repartition");
}

#[test]
fn input_commits_once_the_repartition_write_is_acknowledged_and_the_window_once_its_changelog_write_is() {
    let app = App::new(APP).processor(Processor::new("views", views_per_user).input(["in"]).output("out"));
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    d.pipe_at(
        "in",
        None,
        &View {
            user: "ann".into(),
            page: "/".into(),
        },
        1_000,
    );
    // The window is open, but its state is in the changelog: nothing is held.
    assert_all_committed(&mut d, &group("views"), "in");
    d.stop(0).unwrap();
    assert_eq!(
        d.committed(&group("views"), "t-views-repartition", 0).map(|o| o.0),
        Some(1)
    );
    let changelog = d.broker().records("t-views-window-changelog");
    let slots: Vec<_> = changelog
        .iter()
        .filter(|r| r.key.as_deref().is_some_and(|k| k[0] == 0))
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(slots.len(), 1, "one slot written: {slots:?}");
    assert!(slots[0].starts_with(r#"{"a":1,"#), "the count so far: {}", slots[0]);
}

#[test]
fn group_by_key_uses_the_record_key_without_repartitioning() {
    fn per_key(f: Flow<u64>) -> Flow<WindowResult<String, u64>> {
        f.group_by_key::<String>()
            .window(Tumbling::of(Duration::from_secs(10)))
            .reduce(|a, b| a + b)
    }
    let mut d = driver("per-key", per_key, 1);
    d.pipe_at("in", Some("a"), &1u64, 0);
    d.pipe_at("in", Some("a"), &2u64, 1);
    d.pipe_at("in", Some("b"), &5u64, 2);
    d.advance_stream_time(10_000);
    assert!(d.broker().partitions("t-per-key-repartition").is_none());
    let out = d.output_values::<WindowResult<String, u64>>("out");
    assert_eq!(
        out.iter().map(|w| (w.key.as_str(), w.value)).collect::<Vec<_>>(),
        [("a", 3), ("b", 5)]
    );
    assert_all_committed(&mut d, &group("per-key"), "in");
}
