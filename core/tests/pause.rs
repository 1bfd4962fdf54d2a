//! Pausing and resuming a running app's partitions and topics.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use kflow_core::transport::OutRecord;
use kflow_core::{App, HandlerError, Listener, Meta, TestDriver, TopicPartition};

type Seen = Arc<Mutex<Vec<(i32, String)>>>;

fn recorder(seen: &Seen) -> App {
    let seen = seen.clone();
    App::new(APP).listener(Listener::new("rec", ["in"], move |value: String, meta: Meta| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push((meta.partition.0, value));
            Ok::<(), HandlerError>(())
        }
    }))
}

fn write(d: &mut TestDriver, partition: i32, value: &str) {
    d.pipe_record(OutRecord::new("in", serde_json::to_vec(value).unwrap()).with_partition(partition));
}

fn seen_on(seen: &Seen, partition: i32) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| *p == partition)
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn a_paused_partition_waits_and_commits_nothing_new_while_the_others_go_on() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen), &[("in", 2)]).unwrap();
    write(&mut d, 0, "before");
    d.app(0).unwrap().pause(&TopicPartition::new("in", 0));
    for i in 0..5 {
        write(&mut d, 0, &format!("p0-{i}"));
        write(&mut d, 1, &format!("p1-{i}"));
    }
    d.settle();
    assert_eq!(seen_on(&seen, 0), ["before"]);
    assert_eq!(seen_on(&seen, 1).len(), 5, "the other partition is not held up");
    assert_eq!(d.committed(&group("rec"), "in", 0).map(|o| o.0), Some(1));
    assert_eq!(d.committed(&group("rec"), "in", 1).map(|o| o.0), Some(5));

    d.app(0).unwrap().resume(&TopicPartition::new("in", 0));
    d.settle();
    let expected: Vec<String> = std::iter::once("before".to_string())
        .chain((0..5).map(|i| format!("p0-{i}")))
        .collect();
    assert_eq!(seen_on(&seen, 0), expected, "in offset order after the resume");
    assert_all_committed(&mut d, &group("rec"), "in");
}

#[test]
fn pausing_a_topic_holds_all_its_partitions_until_it_resumes() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen), &[("in", 3)]).unwrap();
    d.app(0).unwrap().pause_topic("in");
    assert_eq!(d.app(0).unwrap().paused().1, ["in"]);
    for p in 0..3 {
        write(&mut d, p, "x");
    }
    d.settle();
    assert!(seen.lock().unwrap().is_empty());
    d.app(0).unwrap().resume_topic("in");
    d.settle();
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_all_committed(&mut d, &group("rec"), "in");
}

#[test]
fn a_pause_outlasts_a_restart_of_the_partition_task() {
    // Two members: the pause is the app's, so when member 2 leaves and partition 0 comes
    // back to app 0, it stays paused there.
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(recorder(&seen), &[("in", 2)]).unwrap();
    d.app(0).unwrap().pause(&TopicPartition::new("in", 0));
    let other = d.start(recorder(&seen)).unwrap();
    d.stop(other).unwrap();
    write(&mut d, 0, "held");
    d.settle();
    assert!(seen_on(&seen, 0).is_empty(), "still paused after the rebalances");
    d.app(0).unwrap().resume(&TopicPartition::new("in", 0));
    d.settle();
    assert_eq!(seen_on(&seen, 0), ["held"]);
}
