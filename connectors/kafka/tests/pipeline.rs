//! Records in, records out, offsets committed: a processor and a listener on the real
//! broker.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kflow_core::{App, Flow, HandlerError, Listener, Meta, Processor};

fn pipeline(f: Flow<u64>) -> Flow<String> {
    f.filter(|v| v % 4 != 0).map(|v| format!("n{v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_and_map_produce_exactly_the_expected_outputs_and_commit_the_inputs() {
    let t = real();
    let (input, output) = (unique("pipe-in"), unique("pipe-out"));
    create(&t, &input, 3).await;
    produce(&t, &input, numbers(0..300)).await;
    let app = App::new(unique("app"))
        .transport(t.clone())
        .commit_interval(Duration::from_millis(200))
        .processor(props(
            Processor::new("p", pipeline).input([input.as_str()]).output(&output),
        ));
    let group = format!("{}-p", app.id());
    let handle = app.start().await.unwrap();
    let expected: Vec<String> = (0..300u64)
        .filter(|v| v % 4 != 0)
        .map(|v| format!("\"n{v}\""))
        .collect();
    let out = read(&t, &output, expected.len(), Duration::from_secs(60));
    handle.shutdown().await.unwrap();
    let mut values: Vec<String> = out.iter().map(|r| r.3.clone()).collect();
    values.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(values, want, "exactly the expected outputs");
    // Keys travel: each output keeps its input's key, so it lands on the same partition.
    assert!(out.iter().all(|r| r.2.as_deref().is_some_and(|k| k.starts_with('k'))));
    let offsets = committed(&t, &group, &input, 3).await;
    assert_eq!(
        offsets.values().map(|o| o.unwrap_or(0)).sum::<i64>(),
        300,
        "committed offsets = input end offsets: {offsets:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_sees_each_partition_in_offset_order_and_commits() {
    let t = real();
    let input = unique("listen-in");
    create(&t, &input, 2).await;
    produce(&t, &input, numbers(0..100)).await;
    let seen: Arc<Mutex<BTreeMap<i32, Vec<i64>>>> = Default::default();
    let s = seen.clone();
    let listener = Listener::new("l", [input.as_str()], move |_v: u64, meta: Meta| {
        let s = s.clone();
        async move {
            s.lock()
                .unwrap()
                .entry(meta.partition.0)
                .or_default()
                .push(meta.offset.0);
            Ok::<(), HandlerError>(())
        }
    })
    .property("session.timeout.ms", "6000");
    let app = App::new(unique("app"))
        .transport(t.clone())
        .commit_interval(Duration::from_millis(200))
        .listener(listener);
    let group = format!("{}-l", app.id());
    let handle = app.start().await.unwrap();
    assert!(
        eventually(Duration::from_secs(60), || seen
            .lock()
            .unwrap()
            .values()
            .map(Vec::len)
            .sum::<usize>()
            == 100)
        .await
    );
    handle.shutdown().await.unwrap();
    for (p, offsets) in seen.lock().unwrap().iter() {
        assert_eq!(
            *offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {p} in order, once each"
        );
    }
    let offsets = committed(&t, &group, &input, 2).await;
    assert_eq!(offsets.values().map(|o| o.unwrap_or(0)).sum::<i64>(), 100);
}
