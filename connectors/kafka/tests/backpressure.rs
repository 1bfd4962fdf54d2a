//! A slow pipeline pauses its partitions: memory stays bounded.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::{App, Flow, Processor};
use kflow_kafka::{KafkaConfig, KafkaTransport};

fn slow(f: Flow<u64>) -> Flow<u64> {
    f.then(1, |v| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        v
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_pauses_the_partition_and_buffers_stay_under_the_bound() {
    const BOUND: usize = 50;
    let t = KafkaTransport::connect(KafkaConfig::new(&broker::address()).max_buffered_records(BOUND)).unwrap();
    let (input, output) = (unique("bp-in"), unique("bp-out"));
    create(&t, &input, 1).await;
    produce(&t, &input, numbers(0..1_000)).await;
    let app = App::new(unique("app"))
        .transport(t.clone())
        .processor(props(Processor::new("p", slow).input([input.as_str()]).output(&output)));
    let handle = app.start().await.unwrap();
    let out = read(&t, &output, 1_000, Duration::from_secs(90));
    handle.shutdown().await.unwrap();
    assert_eq!(out.len(), 1_000, "everything arrives");
    let stats = t.source_stats();
    assert!(stats.pauses() > 0, "the partition was paused");
    // The queue holds BOUND; records already fetched when the pause took effect are kept
    // aside (at most one fetch response's worth on top).
    assert!(
        stats.peak_buffered() <= BOUND * 2 + 500,
        "peak {} records waiting",
        stats.peak_buffered()
    );
}
