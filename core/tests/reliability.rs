//! The reliability rules on the in-memory transport: outputs that can never be written
//! go through the produce-error policy, kflow's routing headers count only on the
//! listener's own retry topics, retry topics are per group, start positions are
//! committed on assignment, a stalled partition makes the app not ready, and an app
//! without a broker does not start.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kflow_core::policy::{self, names};
use kflow_core::transport::{OutRecord, StartFrom};
use kflow_core::{App, DropReason, Error, ErrorKind, Flow, HandlerError, Listener, Meta, Processor, TestDriver};

fn inflate(values: Flow<u64>) -> Flow<String> {
    values.map(|v| if v == 2 { "x".repeat(200) } else { v.to_string() })
}

fn big_output_driver(policy: Option<policy::Policy>) -> TestDriver {
    let mut p = Processor::new("p", inflate).input(["in"]).output("out");
    if let Some(policy) = policy {
        p = p.on_error_for(ErrorKind::Produce, policy);
    }
    let d = TestDriver::new(App::new(APP).processor(p), &[("in", 1)]).unwrap();
    d.broker().set_max_record_bytes(Some(100));
    d
}

#[test]
fn an_output_the_broker_rejects_is_dead_lettered_without_its_value_by_default() {
    let mut d = big_output_driver(None);
    for v in 0..5u64 {
        d.pipe("in", &v);
    }
    assert_eq!(d.output_values::<String>("out"), ["0", "1", "3", "4"]);
    let dlq = d.broker().records("in.dlq");
    assert_eq!(dlq.len(), 1);
    let h = &dlq[0].headers;
    assert_eq!(dlq[0].value, None);
    assert_eq!(h.get_str(names::VALUE_DROPPED), Some("202"));
    assert_eq!(h.get_str(names::ERROR_KIND), Some("produce"));
    assert_eq!(h.get_str(names::OUTPUT_TOPIC), Some("out"));
    assert_eq!(h.get_str(names::ORIGINAL_TOPIC), Some("in"));
    assert_eq!(h.get_str(names::ORIGINAL_OFFSET), Some("2"));
    assert_eq!(d.dropped("p", DropReason::DeadLettered), 1);
    assert!(d.is_running(0));
    assert_all_committed(&mut d, &group("p"), "in");
}

#[test]
fn the_produce_policy_can_skip_or_fail_instead() {
    let mut d = big_output_driver(Some(policy::skip()));
    for v in 0..5u64 {
        d.pipe("in", &v);
    }
    assert_eq!(d.output_values::<String>("out"), ["0", "1", "3", "4"]);
    assert!(d.broker().records("in.dlq").is_empty());
    assert_eq!(d.dropped("p", DropReason::Skipped), 1);
    assert_all_committed(&mut d, &group("p"), "in");

    let mut d = big_output_driver(Some(policy::fail()));
    for v in 0..5u64 {
        d.pipe("in", &v);
    }
    let error = d.app_error(0).expect("the app stopped");
    assert!(error.contains("produce error") && error.contains("in-0@2"), "{error}");
    assert_eq!(
        d.committed(&group("p"), "in", 0),
        Some(kflow_core::Offset(2)),
        "nothing past it commits"
    );
}

type Seen = Arc<Mutex<Vec<String>>>;

/// A listener (group `<APP>-<name>`) on `in` that fails values starting with `fail` once.
fn listener(name: &str, fail: &'static str, seen: &Seen) -> Listener<String> {
    let seen = seen.clone();
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    Listener::new(name, ["in"], move |v: String, _: Meta| {
        let first = {
            let mut calls = calls.lock().unwrap();
            let first = !calls.contains(&v);
            calls.push(v.clone());
            first
        };
        seen.lock().unwrap().push(v.clone());
        async move {
            match v.starts_with(fail) && first {
                true => Err(HandlerError::from("first call fails")),
                false => Ok(()),
            }
        }
    })
    .on_error(policy::retry_topics([Duration::from_millis(100)]).then_dead_letter())
}

#[test]
fn two_groups_with_retry_topics_on_one_topic_keep_their_retries_apart() {
    let (a, b): (Seen, Seen) = Default::default();
    let app = App::new(APP)
        .listener(listener("a", "fa", &a))
        .listener(listener("b", "fb", &b));
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    for v in ["fa", "fb", "ok"] {
        d.pipe("in", &v);
    }
    d.advance_time(Duration::from_secs(1));
    assert_eq!(*a.lock().unwrap(), ["fa", "fb", "ok", "fa"]);
    assert_eq!(*b.lock().unwrap(), ["fa", "fb", "ok", "fb"]);
    for (name, value) in [("a", "\"fa\""), ("b", "\"fb\"")] {
        let retries = d.broker().records(&policy::retry_topic("in", &group(name), 1));
        let values: Vec<_> = retries.iter().map(|r| r.value.clone().unwrap()).collect();
        assert_eq!(
            values,
            [value.as_bytes()],
            "{name}'s retry topic holds its own failure only"
        );
    }
}

#[test]
fn forged_routing_headers_on_an_ordinary_record_are_ignored() {
    let seen: Seen = Default::default();
    let mut d = TestDriver::new(App::new(APP).listener(listener("l", "bad", &seen)), &[("in", 1)]).unwrap();
    let mut forged = OutRecord::new("in", "\"bad\"");
    forged.headers.insert(names::ORIGINAL_TOPIC, "elsewhere");
    forged.headers.insert(names::RETRY_LEVEL, "1");
    forged.headers.insert(names::RETRY_DUE, i64::MAX.to_string());
    d.pipe_record(forged);
    d.pipe("in", &"next");
    d.advance_time(Duration::from_secs(1));
    // Its one retry (a forged level 1 skipped it before), then the next record.
    assert_eq!(*seen.lock().unwrap(), ["bad", "next", "bad"]);
    let retries = d.broker().records(&policy::retry_topic("in", &group("l"), 1));
    assert_eq!(retries.len(), 1, "retried through the listener's own retry topic");
    assert_eq!(retries[0].headers.get_str(names::ORIGINAL_TOPIC), Some("in"));
    assert_eq!(
        d.broker().partitions("elsewhere.dlq"),
        None,
        "nothing goes where it pointed"
    );
    assert_eq!(d.broker().partitions("elsewhere.retry.1"), None);
}

#[test]
fn a_partition_assigned_without_a_committed_offset_has_its_start_committed() {
    let broker = kflow_core::transport::memory::MemoryBroker::new();
    broker.create_topic("in", 2).unwrap();
    for v in 0..3u64 {
        broker
            .produce(OutRecord::new("in", v.to_string()).with_partition(0))
            .unwrap();
    }
    let l = Listener::new("l", ["in"], |_: u64, _: Meta| async { Ok::<(), HandlerError>(()) })
        .start_from(StartFrom::Latest);
    let mut d = TestDriver::on_broker(broker).unwrap();
    d.start(App::new(APP).listener(l)).unwrap();
    // Not committed by the listener (it handled nothing): committed on assignment.
    d.crash(0);
    assert_eq!(
        d.broker()
            .committed(&group("l"), &kflow_core::TopicPartition::new("in", 0)),
        Some(kflow_core::Offset(3))
    );
    assert_eq!(
        d.broker()
            .committed(&group("l"), &kflow_core::TopicPartition::new("in", 1)),
        Some(kflow_core::Offset(0))
    );
}

#[test]
fn a_stalled_partition_makes_the_app_not_ready_and_a_paused_one_does_not() {
    // Value 3 never finishes; later values of its partition wait behind it.
    let l = Listener::new("l", ["in"], |v: u64, _: Meta| async move {
        if v == 3 {
            std::future::pending::<()>().await;
        }
        Ok::<(), HandlerError>(())
    });
    let app = App::new(APP).stall_timeout(Duration::from_secs(30)).listener(l);
    let mut d = TestDriver::new(app, &[("in", 1), ("other", 1)]).unwrap();
    for v in 0..6u64 {
        d.pipe("in", &v);
    }
    d.advance_time(Duration::from_secs(20));
    assert_eq!(d.app(0).unwrap().health().why_not_ready(), None, "not yet: 20 s of 30");
    d.advance_time(Duration::from_secs(15));
    let why = d.app(0).unwrap().health().why_not_ready().expect("stalled");
    assert!(
        why.contains("listener `l` (group `t-l`): partition in-0 has 2 records waiting and made no progress"),
        "{why}"
    );
    assert!(d.app(0).unwrap().health().is_live(), "a stall is not fatal");

    // A partition the app paused is not stalled, however long it waits.
    let l = Listener::new("l", ["in"], |_: u64, _: Meta| async { Ok::<(), HandlerError>(()) });
    let mut d = TestDriver::new(
        App::new(APP).stall_timeout(Duration::from_secs(30)).listener(l),
        &[("in", 1)],
    )
    .unwrap();
    d.app(0).unwrap().pause(&kflow_core::TopicPartition::new("in", 0));
    for v in 0..6u64 {
        d.pipe("in", &v);
    }
    d.advance_time(Duration::from_secs(120));
    assert_eq!(d.app(0).unwrap().health().why_not_ready(), None);
}

#[test]
fn an_app_without_a_broker_does_not_start() {
    fn id(v: Flow<u64>) -> Flow<u64> {
        v
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = App::new(APP).processor(Processor::new("p", id).input(["in"]).output("out"));
    let err = runtime.block_on(app.start()).err().expect("no silent in-memory broker");
    assert!(matches!(&err, Error::Config { key, .. } if key == "transport"), "{err}");
    assert!(err.to_string().contains("MemoryBroker"), "{err}");
}
