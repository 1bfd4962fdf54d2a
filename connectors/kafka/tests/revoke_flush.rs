//! A listener's dead-letter writes are acknowledged before its partitions are released,
//! so the records they stand for commit, and a restart does not handle them again.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kflow_core::{policy, App, HandlerError, Listener, Meta};
use kflow_kafka::{KafkaConfig, KafkaTransport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_acknowledged_before_a_shutdown_commits_and_are_not_written_twice() {
    // The producer holds writes for 3 s: at shutdown the dead letter is still queued.
    let t = KafkaTransport::connect(KafkaConfig::new(&broker::address()).property("linger.ms", "3000")).unwrap();
    let topic = unique("flush-in");
    create(&t, &topic, 1).await;
    produce(&t, &topic, numbers(0..10)).await;
    let app_id = unique("flush-app");
    let group = format!("{app_id}-l");
    let calls: Arc<Mutex<Vec<u64>>> = Arc::default();
    let run = || {
        let record = calls.clone();
        let l = Listener::new("l", [topic.as_str()], move |v: u64, _: Meta| {
            record.lock().unwrap().push(v);
            async move {
                match v {
                    5 => Err(HandlerError::from("five never works")),
                    _ => Ok(()),
                }
            }
        })
        .on_error(policy::dead_letter());
        App::new(&app_id)
            .transport(t.clone())
            .commit_interval(Duration::from_secs(60))
            .listener(listener_props(l))
    };
    let first = run().start().await.unwrap();
    assert!(eventually(Duration::from_secs(60), || calls.lock().unwrap().len() == 10).await);
    // Shut down at once: the final commit must include 5, whose dead letter is queued.
    first.shutdown().await.unwrap();
    assert_eq!(
        committed(&t, &group, &topic, 1).await[&0],
        Some(10),
        "the dead-lettered record commits with the rest"
    );
    let second = run().start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    second.shutdown().await.unwrap();
    assert_eq!(calls.lock().unwrap().len(), 10, "nothing is handled twice");
    let dlq = read(&t, &format!("{topic}.dlq"), 2, Duration::from_secs(10));
    assert_eq!(dlq.len(), 1, "one dead letter");
}
