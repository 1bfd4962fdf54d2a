//! A crash mid-stream loses nothing: a new instance in the same group resumes from the
//! committed offsets.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use kflow_core::{App, Flow, Processor};

fn tag(f: Flow<u64>) -> Flow<u64> {
    f.map(|v| v + 1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_abrupt_stop_a_new_instance_processes_every_remaining_input() {
    let t = real();
    let (input, output) = (unique("crash-in"), unique("crash-out"));
    create(&t, &input, 3).await;
    produce(&t, &input, numbers(0..2_000)).await;
    let app_id = unique("app");
    let make = || {
        App::new(&app_id)
            .transport(t.clone())
            .commit_interval(Duration::from_millis(100))
            .processor(props(Processor::new("p", tag).input([input.as_str()]).output(&output)))
    };
    let first = make().start().await.unwrap();
    // Let it get part-way, then stop it abruptly: no drain, no final commit.
    let reached = eventually(Duration::from_secs(60), || {
        read(&t, &output, 500, Duration::from_millis(200)).len() >= 500
    })
    .await;
    assert!(reached, "the first instance made progress");
    first.abort();
    produce(&t, &input, numbers(2_000..2_500)).await;
    let second = make().start().await.unwrap();
    // The output holds duplicates of what the first instance wrote but did not commit,
    // so wait for every distinct value, not for a record count.
    let distinct = |out: &[(i32, i64, Option<String>, String)]| -> BTreeSet<u64> {
        out.iter().map(|r| r.3.parse().unwrap()).collect()
    };
    let out = read_until(&t, &output, Duration::from_secs(90), |out| distinct(out).len() >= 2_500);
    let values = distinct(&out);
    second.shutdown().await.unwrap();
    let missing: Vec<u64> = (0..2_500)
        .map(|v| v + 1_000_000)
        .filter(|v| !values.contains(v))
        .collect();
    assert!(
        missing.is_empty(),
        "{} inputs lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let offsets = committed(&t, &format!("{app_id}-p"), &input, 3).await;
    assert_eq!(offsets.values().map(|o| o.unwrap_or(0)).sum::<i64>(), 2_500);
}
