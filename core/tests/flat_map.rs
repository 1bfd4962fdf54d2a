//! `Flow::flat_map`: outputs and shared acks.

mod common;

use common::*;
use kflow_core::ack::OffsetTracker;
use kflow_core::{DropReason, Flow, Msg, Offset, Record, TopicPartition};

fn words(lines: Flow<String>) -> Flow<String> {
    lines.flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
}

#[test]
fn emits_every_output_in_order() {
    let mut d = driver("words", words, 1);
    for line in ["the quick fox", "", "jumps"] {
        d.pipe("in", &line);
    }
    assert_eq!(d.output_values::<String>("out"), ["the", "quick", "fox", "jumps"]);
    assert_eq!(d.dropped("words", DropReason::Filtered), 1, "a line with no words");
    assert_all_committed(&mut d, &group("words"), "in");
}

#[test]
fn an_input_commits_only_when_all_its_outputs_are_done() {
    let mut tracker = OffsetTracker::new(TopicPartition::new("in", 0));
    let handle = tracker.handle();
    let msgs: Vec<Msg<String>> = ["a b c", "d"]
        .iter()
        .enumerate()
        .map(|(i, s)| Msg::new(Record::new(s.to_string()), tracker.track(Offset(i as i64))))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut out = rt.block_on(async {
        use futures::StreamExt;
        let flow = words(Flow::from_msgs(msgs));
        flow.into_stream().collect::<Vec<_>>().await
    });
    assert_eq!(out.len(), 4);
    // Hold "b" (an output of offset 0); release the others.
    let held = out.remove(1);
    drop(out);
    assert_eq!(
        handle.frontier(),
        Some(Offset(0)),
        "offset 0 still has an output in flight"
    );
    drop(held);
    assert_eq!(handle.frontier(), Some(Offset(2)));
}
