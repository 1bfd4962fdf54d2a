//! Nothing fails quietly on the Kafka path: a panic on a consumer's poll thread and a
//! fatal producer error stop the app with an error that says what happened, and the
//! health checks report it; a partition with records waiting and no progress makes the
//! app not ready.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::{AppHandle, Flow, HandlerError, Listener, Meta, Processor};
use kflow_kafka::KafkaTransport;

fn quick_listener(topic: &str) -> Listener<u64> {
    listener_props(Listener::new("l", [topic], |_: u64, _: Meta| async {
        Ok::<(), HandlerError>(())
    }))
}

async fn stops_within(handle: &mut AppHandle, within: Duration) -> String {
    tokio::time::timeout(within, handle.stopped())
        .await
        .expect("the app stops by itself");
    handle.error().expect("with an error").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_on_the_poll_thread_stops_the_app_naming_the_group_and_health_reports_it() {
    let t = KafkaTransport::embedded().unwrap();
    let topic = unique("wd-poll");
    create(&t, &topic, 1).await;
    produce(&t, &topic, numbers(0..10)).await;
    let app_id = unique("wd-app");
    let mut handle = start_app(&t, &app_id, |app| app.listener(quick_listener(&topic))).await;
    let group = format!("{app_id}-l");
    assert!(committed_reaches(&t, &group, &topic, 1, 10, Duration::from_secs(30)).await);
    t.faults().panic_next_poll();
    let error = stops_within(&mut handle, Duration::from_secs(10)).await;
    assert!(
        error.contains(&group) && error.contains("poll thread") && error.contains("panicked"),
        "{error}"
    );
    let health = handle.health().clone();
    assert!(!health.is_live(), "not live once it failed");
    assert!(
        health.why_not_live().unwrap().contains("panicked"),
        "{:?}",
        health.why_not_live()
    );
    assert!(
        health.why_not_ready().unwrap().contains("panicked"),
        "{:?}",
        health.why_not_ready()
    );
    let err = handle.shutdown().await.unwrap_err();
    assert!(err.to_string().contains(&group), "{err}");
}

fn double(f: Flow<u64>) -> Flow<u64> {
    f.map(|v| v * 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_producer_error_stops_the_app_with_its_reason() {
    let t = KafkaTransport::embedded().unwrap();
    let (input, output) = (unique("wd-fatal-in"), unique("wd-fatal-out"));
    create(&t, &input, 1).await;
    produce(&t, &input, numbers(0..10)).await;
    let app_id = unique("wd-app");
    let mut handle = start_app(&t, &app_id, |app| {
        app.processor(props(
            Processor::new("p", double).input([input.as_str()]).output(&output),
        ))
    })
    .await;
    assert!(committed_reaches(&t, &format!("{app_id}-p"), &input, 1, 10, Duration::from_secs(30)).await);
    assert!(t.inject_fatal_producer_error(), "librdkafka took the injected error");
    let error = stops_within(&mut handle, Duration::from_secs(10)).await;
    assert!(
        error.contains("fatal error") && error.contains("injected fault"),
        "{error}"
    );
    assert!(!handle.health().is_live());
    assert!(handle.shutdown().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_with_records_waiting_and_no_progress_makes_the_app_not_ready() {
    let t = KafkaTransport::embedded().unwrap();
    let topic = unique("wd-stall");
    create(&t, &topic, 2).await;
    // Value 3 never finishes; the rest do.
    let l = Listener::new("l", [topic.as_str()], |v: u64, _: Meta| async move {
        if v == 3 {
            std::future::pending::<()>().await;
        }
        Ok::<(), HandlerError>(())
    });
    let app_id = unique("wd-app");
    let handle = start_app(&t, &app_id, |app| {
        app.stall_timeout(Duration::from_secs(2))
            .drain_timeout(Duration::from_secs(1))
            .listener(listener_props(l))
    })
    .await;
    assert!(
        eventually(Duration::from_secs(30), || handle.health().is_ready()).await,
        "ready once joined"
    );
    // Keys k0..k19 over two partitions: 3 holds its partition, whose later records wait.
    produce(&t, &topic, numbers(0..20)).await;
    assert!(
        eventually(Duration::from_secs(30), || handle.health().why_not_ready().is_some()).await,
        "a stalled partition makes the app not ready"
    );
    let why = handle.health().why_not_ready().unwrap();
    assert!(
        why.contains("made no progress") && why.contains("records waiting"),
        "{why}"
    );
    assert!(why.contains(&format!("listener `l` (group `{app_id}-l`)")), "{why}");
    assert!(handle.health().is_live(), "a stall is not fatal");
    handle.shutdown().await.unwrap();
}
