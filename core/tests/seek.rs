//! Seeking a running app's partitions ([`AppContext::seek`]) on the in-memory broker:
//! the records from the new position are handled again, the new position is committed,
//! pauses hold across a seek, and an exactly-once processor's outputs follow the seek.
//! Timestamp seeks are tested here only: neither real test broker looks offsets up by
//! time (tansu answers 0, librdkafka's mock cluster nothing).

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use kflow_core::runtime::{AppContext, SeekError};
use kflow_core::transport::{OutRecord, SeekTo};
use kflow_core::{App, HandlerError, Listener, Meta, Offset, Processor, TestDriver, TopicPartition};

type Seen = Arc<Mutex<Vec<(i32, i64, String)>>>;

fn recorder(seen: &Seen) -> App {
    let seen = seen.clone();
    App::new(APP).listener(Listener::new("rec", ["in"], move |value: String, meta: Meta| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push((meta.partition.0, meta.offset.0, value));
            Ok::<(), HandlerError>(())
        }
    }))
}

/// Writes `count` records to each of `partitions`, record i at timestamp 1 000 × i.
fn fill(d: &mut TestDriver, partitions: i32, count: i64) {
    for i in 0..count {
        for p in 0..partitions {
            let value = serde_json::to_vec(&format!("p{p}-{i}")).unwrap();
            d.pipe_record(OutRecord::new("in", value).with_partition(p).with_timestamp(1_000 * i));
        }
    }
}

fn offsets_seen(seen: &Seen, partition: i32) -> Vec<i64> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(p, _, _)| *p == partition)
        .map(|(_, o, _)| *o)
        .collect()
}

fn seek(
    d: &mut TestDriver,
    topic: &str,
    partition: Option<i32>,
    to: SeekTo,
) -> Result<Vec<(i32, Option<i64>, i64)>, SeekError> {
    let context: AppContext = d.app(0).unwrap().context();
    let topic = topic.to_string();
    d.run(async move { context.seek("rec", &topic, partition, to).await })
        .map(|moved| moved.into_iter().map(|m| (m.partition, m.from, m.to)).collect())
}

#[test]
fn a_partition_sent_back_to_an_offset_reads_again_from_there_and_commits_it() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen), &[("in", 2)]).unwrap();
    fill(&mut d, 2, 10);
    assert_eq!(d.committed(&group("rec"), "in", 0), Some(Offset(10)));
    seen.lock().unwrap().clear();

    let moved = seek(&mut d, "in", Some(0), SeekTo::Offset(Offset(6))).unwrap();
    assert_eq!(moved, [(0, Some(10), 6)], "partition 0 moved from its committed offset");
    assert_eq!(offsets_seen(&seen, 0), [6, 7, 8, 9], "read again from offset 6");
    assert!(offsets_seen(&seen, 1).is_empty(), "the other partition did not move");
    assert_eq!(
        d.committed(&group("rec"), "in", 0),
        Some(Offset(10)),
        "and committed to the end again"
    );

    fill(&mut d, 2, 1);
    assert_eq!(offsets_seen(&seen, 0), [6, 7, 8, 9, 10], "new records follow");
    assert_eq!(offsets_seen(&seen, 1), [10]);
}

#[test]
fn earliest_latest_and_timestamps_move_every_partition_of_the_topic() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen), &[("in", 2)]).unwrap();
    fill(&mut d, 2, 10);
    seen.lock().unwrap().clear();

    let moved = seek(&mut d, "in", None, SeekTo::Timestamp(7_500)).unwrap();
    assert_eq!(
        moved,
        [(0, Some(10), 8), (1, Some(10), 8)],
        "the first record at or after 7.5 s"
    );
    assert_eq!(offsets_seen(&seen, 0), [8, 9]);
    assert_eq!(offsets_seen(&seen, 1), [8, 9]);

    seen.lock().unwrap().clear();
    let moved = seek(&mut d, "in", None, SeekTo::Earliest).unwrap();
    assert_eq!(moved, [(0, Some(10), 0), (1, Some(10), 0)]);
    assert_eq!(offsets_seen(&seen, 0), (0..10).collect::<Vec<_>>());

    // Latest skips what is not read yet: pause, write, seek to the end, resume.
    seen.lock().unwrap().clear();
    d.app(0).unwrap().pause_topic("in");
    fill(&mut d, 2, 3);
    let moved = seek(&mut d, "in", Some(1), SeekTo::Latest).unwrap();
    assert_eq!(moved, [(1, Some(10), 13)], "partition 1 skips its 3 unread records");
    d.app(0).unwrap().resume_topic("in");
    d.settle();
    assert_eq!(offsets_seen(&seen, 0), [10, 11, 12], "partition 0 was not moved");
    assert!(offsets_seen(&seen, 1).is_empty());
    assert_eq!(d.committed(&group("rec"), "in", 1), Some(Offset(13)));

    let moved = seek(&mut d, "in", Some(0), SeekTo::Timestamp(1_000_000)).unwrap();
    assert_eq!(moved, [(0, Some(13), 13)], "no record that late: the end");
}

#[test]
fn a_paused_partition_stays_paused_through_a_seek_until_it_is_resumed() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen), &[("in", 1)]).unwrap();
    fill(&mut d, 1, 5);
    seen.lock().unwrap().clear();
    let tp = TopicPartition::new("in", 0);
    d.app(0).unwrap().pause(&tp);
    let moved = seek(&mut d, "in", Some(0), SeekTo::Offset(Offset(2))).unwrap();
    assert_eq!(moved, [(0, Some(5), 2)]);
    assert!(seen.lock().unwrap().is_empty(), "nothing read while paused");
    assert_eq!(
        d.committed(&group("rec"), "in", 0),
        Some(Offset(2)),
        "the new position is committed"
    );
    d.app(0).unwrap().resume(&tp);
    d.settle();
    assert_eq!(offsets_seen(&seen, 0), [2, 3, 4]);
}

#[test]
fn offsets_outside_the_log_are_clamped_to_it() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen), &[("in", 1)]).unwrap();
    fill(&mut d, 1, 3);
    assert_eq!(
        seek(&mut d, "in", Some(0), SeekTo::Offset(Offset(-5))).unwrap(),
        [(0, Some(3), 0)]
    );
    assert_eq!(
        seek(&mut d, "in", Some(0), SeekTo::Offset(Offset(99))).unwrap(),
        [(0, Some(3), 3)]
    );
}

#[test]
fn unknown_units_topics_and_partitions_are_refused_naming_what_is_valid() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen), &[("in", 1), ("other", 1)]).unwrap();
    let context = d.app(0).unwrap().context();
    let c = context.clone();
    let unit = d.run(async move { c.seek("nope", "in", None, SeekTo::Earliest).await });
    match unit {
        Err(SeekError::Unknown { field: "unit", reason }) => assert!(reason.contains("units: rec"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let c = context.clone();
    let topic = d.run(async move { c.seek("rec", "other", None, SeekTo::Earliest).await });
    match topic {
        Err(SeekError::Unknown { field: "topic", reason }) => assert!(reason.contains("it reads: in"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let partition = d.run(async move { context.seek("rec", "in", Some(7), SeekTo::Earliest).await });
    assert!(matches!(partition, Err(SeekError::NotHeld(_))), "{partition:?}");
}

fn doubled(f: kflow_core::Flow<u64>) -> kflow_core::Flow<u64> {
    f.map(|v| v * 2)
}

#[test]
fn an_exactly_once_processor_sent_back_writes_its_outputs_again_in_its_transactions() {
    let app = App::new(APP).processor(
        Processor::new("dbl", doubled)
            .input(["in"])
            .output("out")
            .exactly_once(),
    );
    let mut d = TestDriver::new(app, &[("in", 1), ("out", 1)]).unwrap();
    for v in 0..6u64 {
        d.pipe("in", &v);
    }
    d.advance_time(std::time::Duration::from_secs(6));
    assert_eq!(d.output_values::<u64>("out"), [0, 2, 4, 6, 8, 10]);
    let context = d.app(0).unwrap().context();
    let moved = d.run(async move { context.seek("dbl", "in", Some(0), SeekTo::Offset(Offset(4))).await });
    assert_eq!(moved.unwrap()[0].to, 4);
    d.advance_time(std::time::Duration::from_secs(6));
    assert_eq!(
        d.output_values::<u64>("out"),
        [0, 2, 4, 6, 8, 10, 8, 10],
        "records 4 and 5 handled again, their outputs committed"
    );
    assert_eq!(d.committed(&group("dbl"), "in", 0), Some(Offset(6)));
}

#[test]
fn a_seek_that_meets_a_rebalance_moves_what_it_still_holds_and_the_app_keeps_running() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen), &[("in", 4)]).unwrap();
    fill(&mut d, 4, 5);
    seen.lock().unwrap().clear();
    let context = d.app(0).unwrap().context();
    let second = recorder(&seen).transport(d.broker().clone());
    // The seek and a second instance joining (which rebalances the group) at once.
    let (moved, joined) = d.run(async move {
        let seek = context.seek("rec", "in", None, SeekTo::Earliest);
        futures::join!(seek, second.start())
    });
    let joined = joined.expect("the second instance starts");
    match &moved {
        Ok(m) => assert!(!m.is_empty(), "{m:?}"),
        Err(SeekError::NotHeld(_)) => {}
        Err(other) => panic!("the seek fails only for want of partitions: {other}"),
    }
    d.advance_time(std::time::Duration::from_secs(10));
    assert!(d.is_running(0), "{:?}", d.app_error(0));
    fill(&mut d, 4, 1);
    d.advance_time(std::time::Duration::from_secs(10));
    let offsets: std::collections::BTreeSet<(i32, i64)> =
        seen.lock().unwrap().iter().map(|(p, o, _)| (*p, *o)).collect();
    for p in 0..4 {
        assert!(
            offsets.contains(&(p, 5)),
            "the new record of partition {p} is handled: {offsets:?}"
        );
    }
    for p in 0..4 {
        assert_eq!(d.committed(&group("rec"), "in", p), Some(Offset(6)), "partition {p}");
    }
    drop(joined);
}
