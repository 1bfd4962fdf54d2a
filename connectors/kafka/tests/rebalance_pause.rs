//! Backpressure pauses across rebalances: librdkafka keeps a partition's pause across
//! unassign/assign (librdkafka#1849), so a partition paused when a rebalance starts must
//! be resumed when it is assigned again, or it is never fetched again.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use kflow_core::{App, Flow, Processor};
use kflow_kafka::{KafkaConfig, KafkaTransport};

/// While set, the pipeline takes no record: its queues fill and backpressure pauses its
/// partitions, and they stay paused through the rebalances.
static HOLD: AtomicBool = AtomicBool::new(true);

fn held(f: Flow<u64>) -> Flow<u64> {
    f.then(1, |v| async move {
        while HOLD.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        v
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_paused_by_backpressure_are_fetched_again_after_a_member_joins_and_leaves() {
    const N: u64 = 2_000;
    let t = KafkaTransport::connect(KafkaConfig::new(&broker::address()).max_buffered_records(20)).unwrap();
    let (input, output) = (unique("rbp-in"), unique("rbp-out"));
    create(&t, &input, 2).await;
    create(&t, &output, 2).await;
    produce(&t, &input, numbers(0..N)).await;
    let app_id = unique("rbp-app");
    let group = format!("{app_id}-p");
    let make = || {
        App::new(&app_id)
            .transport(t.clone())
            .commit_interval(Duration::from_millis(100))
            // A held task does not drain: give it up quickly (its records are read again).
            .drain_timeout(Duration::from_secs(1))
            .processor(props(Processor::new("p", held).input([input.as_str()]).output(&output)))
    };
    let first = make().start().await.unwrap();
    assert!(
        eventually(Duration::from_secs(30), || t.source_stats().pauses() >= 2).await,
        "both partitions paused by backpressure"
    );
    // A second member joins while the first's partitions are paused (every partition is
    // revoked, then they are split), then leaves (revoked again, all back to the first).
    let second = make().start().await.unwrap();
    assert!(
        eventually(Duration::from_secs(30), || second.health().is_ready()).await,
        "the second member got its partition"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.shutdown().await.unwrap();
    // Back to one member with both partitions: let the pipeline go.
    HOLD.store(false, Ordering::SeqCst);
    let all = committed_reaches(&t, &group, &input, 2, N as i64, Duration::from_secs(120)).await;
    let left = committed(&t, &group, &input, 2).await;
    first.shutdown().await.unwrap();
    assert!(all, "every record commits after the rebalances: {left:?}");
    let out: BTreeSet<u64> = read_until(&t, &output, Duration::from_secs(30), |o| o.len() as u64 >= N)
        .iter()
        .map(|r| r.3.parse().unwrap())
        .collect();
    assert_eq!(out.len() as u64, N, "every input has its output");
}
