//! Pausing and resuming a running app's partitions on the real broker.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kflow_core::{App, HandlerError, Listener, Meta, TopicPartition};
use kflow_kafka::{ProduceRecord, ProducerOptions, TypedProducer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_partition_waits_while_the_others_go_on_and_catches_up_after_resume() {
    let t = real();
    let topic = unique("pause-in");
    create(&t, &topic, 2).await;
    let seen: Arc<Mutex<Vec<(i32, String)>>> = Arc::default();
    let record = seen.clone();
    let mut listener = Listener::new("l", [topic.as_str()], move |v: String, meta: Meta| {
        record.lock().unwrap().push((meta.partition.0, v));
        async { Ok::<(), HandlerError>(()) }
    });
    for (k, v) in TEST_PROPS {
        listener = listener.property(k, v);
    }
    let app_id = unique("pause-app");
    let app = App::new(&app_id)
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .listener(listener)
        .start()
        .await
        .unwrap();
    app.pause(&TopicPartition::new(topic.as_str(), 0));
    let producer = TypedProducer::<String, String>::json(t.config(), ProducerOptions::new()).unwrap();
    let sent = producer
        .send_batch((0..20).map(|i| ProduceRecord::new(&topic, format!("v{i}")).partition(i % 2)))
        .await;
    assert!(sent.iter().all(Result::is_ok));
    let on = |p: i32| seen.lock().unwrap().iter().filter(|(q, _)| *q == p).count();
    assert!(
        eventually(Duration::from_secs(60), || on(1) == 10).await,
        "partition 1 goes on"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(on(0), 0, "partition 0 is held");
    let group = format!("{app_id}-l");
    assert_eq!(
        committed(&t, &group, &topic, 2).await[&0],
        Some(0),
        "nothing committed on the paused partition past its start position (committed at assignment)"
    );

    app.resume(&TopicPartition::new(topic.as_str(), 0));
    assert!(
        eventually(Duration::from_secs(30), || on(0) == 10).await,
        "it catches up"
    );
    let values: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| *p == 0)
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(
        values,
        (0..20).step_by(2).map(|i| format!("v{i}")).collect::<Vec<_>>(),
        "in order"
    );
    app.shutdown().await.unwrap();
    assert_eq!(committed(&t, &group, &topic, 2).await[&0], Some(10));
}
