//! Several instances in one group: shared partitions, rebalances, repartitioned windows.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kflow_core::window::{Tumbling, WindowResult};
use kflow_core::{App, AppHandle, Flow, Processor};
use kflow_kafka::KafkaTransport;

type Seen = Arc<Mutex<Vec<u64>>>;

/// An instance that records what it processed.
async fn instance(t: &KafkaTransport, app_id: &str, input: &str, output: &str, seen: Seen) -> AppHandle {
    let p = Processor::new("p", move |f: Flow<u64>| {
        let seen = seen.clone();
        f.inspect(move |v| seen.lock().unwrap().push(*v)).map(|v| v * 2)
    });
    App::new(app_id)
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .processor(props(p.input([input]).output(output)))
        .start()
        .await
        .unwrap()
}

fn doubled(out: &[(i32, i64, Option<String>, String)]) -> BTreeSet<u64> {
    out.iter().map(|r| r.3.parse::<u64>().unwrap() / 2).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_partitions_and_together_process_everything() {
    let t = real();
    let (input, output, app_id) = (unique("share-in"), unique("share-out"), unique("app"));
    create(&t, &input, 4).await;
    let (a_seen, b_seen): (Seen, Seen) = Default::default();
    let a = instance(&t, &app_id, &input, &output, a_seen.clone()).await;
    let b = instance(&t, &app_id, &input, &output, b_seen.clone()).await;
    // Let both join before the data arrives.
    tokio::time::sleep(Duration::from_secs(8)).await;
    produce(&t, &input, numbers(0..1_000)).await;
    let out = read(&t, &output, 1_000, Duration::from_secs(60));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    assert_eq!(
        doubled(&out),
        (0..1_000).collect(),
        "the union of both outputs is complete"
    );
    let (na, nb) = (a_seen.lock().unwrap().len(), b_seen.lock().unwrap().len());
    assert!(na > 0 && nb > 0, "both instances worked: {na} and {nb}");
    let offsets = committed(&t, &format!("{app_id}-p"), &input, 4).await;
    assert_eq!(offsets.values().map(|o| o.unwrap_or(0)).sum::<i64>(), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_joining_and_leaving_mid_stream_loses_nothing() {
    let t = real();
    let (input, output, app_id) = (unique("rebal-in"), unique("rebal-out"), unique("app"));
    create(&t, &input, 6).await;
    let seen: Seen = Default::default();
    let a = instance(&t, &app_id, &input, &output, seen.clone()).await;
    let b = instance(&t, &app_id, &input, &output, seen.clone()).await;
    produce(&t, &input, numbers(0..1_000)).await;
    let c = instance(&t, &app_id, &input, &output, seen.clone()).await;
    produce(&t, &input, numbers(1_000..2_000)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    c.shutdown().await.unwrap();
    produce(&t, &input, numbers(2_000..3_000)).await;
    // Rebalances may duplicate outputs: wait for every distinct one.
    let out = read_until(&t, &output, Duration::from_secs(90), |out| doubled(out).len() >= 3_000);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let got = doubled(&out);
    let missing: Vec<u64> = (0..3_000).filter(|v| !got.contains(v)).collect();
    assert!(
        missing.is_empty(),
        "{} lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let offsets = committed(&t, &format!("{app_id}-p"), &input, 6).await;
    assert_eq!(offsets.values().map(|o| o.unwrap_or(0)).sum::<i64>(), 3_000);
}

type Keys = Arc<Mutex<BTreeSet<String>>>;

async fn counter(t: &KafkaTransport, app_id: &str, input: &str, output: &str, keys: Keys) -> AppHandle {
    let p = Processor::new("count", move |f: Flow<u64>| {
        let keys = keys.clone();
        f.group_by(|v| format!("key-{}", v % 10))
            .window(Tumbling::of(Duration::from_secs(60)))
            .count()
            .inspect(move |w| {
                keys.lock().unwrap().insert(w.key.clone());
            })
    });
    App::new(app_id)
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100))
        .processor(props(p.input([input]).output(output)))
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_with_two_instances_counts_each_key_once_in_one_instance() {
    let t = real();
    let (input, output, app_id) = (unique("gb-in"), unique("gb-out"), unique("app"));
    create(&t, &input, 4).await;
    let (a_keys, b_keys): (Keys, Keys) = Default::default();
    let a = counter(&t, &app_id, &input, &output, a_keys.clone()).await;
    let b = counter(&t, &app_id, &input, &output, b_keys.clone()).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    // 500 records, keys key-0 .. key-9, all in the first minute of event time; spread over
    // the input partitions by their record keys, so each key arrives on several.
    let producer = kflow_core::transport::Transport::producer(&t).unwrap();
    for v in 0..500u64 {
        let rec = kflow_core::transport::OutRecord::new(input.as_str(), v.to_string())
            .with_key(format!("r{v}"))
            .with_timestamp(1_000 + v as i64);
        producer.send(rec, kflow_core::ack::Ack::none()).await.unwrap();
    }
    producer.flush(Duration::from_secs(30)).await.unwrap();
    let repartition = format!("{app_id}-count-repartition");
    assert!(
        eventually(Duration::from_secs(60), || read(
            &t,
            &repartition,
            500,
            Duration::from_millis(300)
        )
        .len()
            >= 500)
        .await
    );
    // Give the consumers of the repartition topic time to take everything in.
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.advance_stream_time(120_000);
    b.advance_stream_time(120_000);
    let out = read(&t, &output, 10, Duration::from_secs(30));
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let counts: BTreeMap<String, u64> = out
        .iter()
        .map(|r| {
            let w: WindowResult<String, u64> = serde_json::from_str(&r.3).unwrap();
            (w.key, w.value)
        })
        .collect();
    assert_eq!(out.len(), 10, "one result per key");
    assert_eq!(
        counts,
        (0..10).map(|k| (format!("key-{k}"), 50)).collect::<BTreeMap<_, _>>()
    );
    let (ak, bk) = (a_keys.lock().unwrap().clone(), b_keys.lock().unwrap().clone());
    assert!(
        ak.is_disjoint(&bk),
        "a key was computed by both instances: {ak:?} / {bk:?}"
    );
    assert_eq!(ak.union(&bk).count(), 10);
}
