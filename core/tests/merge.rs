//! `Flow::merge` and processors with several input topics.

mod common;

use common::*;
use kflow_core::{App, Flow, Processor, TestDriver};

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
#[serde(untagged)]
enum Event {
    Login { user: String },
    Order { user: String, cents: u64 },
}

fn users(f: Flow<Event>) -> Flow<String> {
    let (logins, orders): (Flow<Event>, Flow<Event>) = (f, Flow::from_iter(Vec::<Event>::new()));
    logins.merge(orders).map(|e| match e {
        Event::Login { user } | Event::Order { user, .. } => user,
    })
}

#[test]
fn detached_flows_interleave_keeping_each_sides_order() {
    let out = Flow::from_iter([1, 3, 5])
        .merge(Flow::from_iter([2, 4]))
        .collect_values_blocking();
    let odds: Vec<_> = out.iter().copied().filter(|v| v % 2 == 1).collect();
    let evens: Vec<_> = out.iter().copied().filter(|v| v % 2 == 0).collect();
    assert_eq!(odds, [1, 3, 5]);
    assert_eq!(evens, [2, 4]);
}

#[test]
fn several_input_topics_merge_into_one_flow() {
    let app = App::new(APP).processor(Processor::new("users", users).input(["logins", "orders"]).output("out"));
    let mut d = TestDriver::new(app, &[("logins", 2), ("orders", 3)]).unwrap();
    d.pipe("logins", &Event::Login { user: "ann".into() });
    d.pipe(
        "orders",
        &Event::Order {
            user: "bo".into(),
            cents: 5,
        },
    );
    d.pipe(
        "orders",
        &Event::Order {
            user: "cy".into(),
            cents: 7,
        },
    );
    let mut out = d.output_values::<String>("out");
    out.sort();
    assert_eq!(out, ["ann", "bo", "cy"]);
    assert_all_committed(&mut d, &group("users"), "logins");
    assert_all_committed(&mut d, &group("users"), "orders");
}
