//! `Flow::map`, and decode errors under the fail and skip policies (the dead-letter
//! default is in `error_policies.rs`).

mod common;

use common::*;
use kflow_core::Flow;

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Order {
    id: u32,
    cents: u64,
}

fn to_euros(orders: Flow<Order>) -> Flow<f64> {
    orders.map(|o| o.cents as f64 / 100.0)
}

#[test]
fn transforms_values_and_keeps_key_and_timestamp() {
    let mut d = driver("euros", to_euros, 1);
    d.pipe_at("in", Some("o-1"), &Order { id: 1, cents: 250 }, 1_000);
    d.pipe_at("in", Some("o-2"), &Order { id: 2, cents: 99 }, 2_000);
    let out = d.output::<f64>("out");
    assert_eq!(out.iter().map(|r| r.value).collect::<Vec<_>>(), vec![2.5, 0.99]);
    assert_eq!(out[0].key.as_deref(), Some(&b"o-1"[..]));
    assert_eq!(out[1].meta.timestamp, 2_000);
    assert_all_committed(&mut d, &group("euros"), "in");
}

#[test]
fn undecodable_input_stops_the_app_under_the_fail_policy() {
    use kflow_core::{policy, App, Processor, TestDriver};
    let app = App::new(APP).processor(
        Processor::new("euros", to_euros)
            .input(["in"])
            .output("out")
            .on_error(policy::fail()),
    );
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    d.pipe("in", &Order { id: 1, cents: 100 });
    d.pipe("in", &"not an order");
    d.pipe("in", &Order { id: 3, cents: 300 });
    let error = d.app_error(0).expect("the app stopped");
    assert!(error.contains("deserialization"), "{error}");
    // The first record is done; nothing from the bad one on is committed.
    assert_eq!(
        d.broker()
            .committed(&group("euros"), &kflow_core::TopicPartition::new("in", 0)),
        Some(kflow_core::Offset(1))
    );
    assert_eq!(d.output_values::<f64>("out"), vec![1.0]);
}

#[test]
fn skip_policy_counts_and_commits_undecodable_input() {
    use kflow_core::{policy, App, DropReason, Processor, TestDriver};
    let app = App::new(APP).processor(
        Processor::new("euros", to_euros)
            .input(["in"])
            .output("out")
            .on_error(policy::skip()),
    );
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    d.pipe("in", &Order { id: 1, cents: 100 });
    d.pipe("in", &"not an order");
    d.pipe("in", &Order { id: 3, cents: 300 });
    assert_eq!(d.output_values::<f64>("out"), vec![1.0, 3.0]);
    assert_eq!(d.dropped("euros", DropReason::Skipped), 1);
    assert!(d.app_error(0).is_none());
    assert_all_committed(&mut d, &group("euros"), "in");
}
