//! Graceful shutdown: finish in-flight work within the drain timeout, commit, stop; work
//! that cannot finish in time is abandoned uncommitted.

mod common;

use std::time::Duration;

use common::*;
use kflow_core::transport::memory::MemoryBroker;
use kflow_core::transport::OutRecord;
use kflow_core::{App, Flow, Offset, Processor, TestDriver, TopicPartition};

/// Value 13 never finishes; everything else is immediate.
fn sometimes_stuck(f: Flow<u64>) -> Flow<u64> {
    f.then(4, |v| async move {
        if v == 13 {
            std::future::pending::<()>().await;
        }
        v
    })
}

#[test]
fn a_stuck_record_is_abandoned_after_the_drain_timeout_and_not_committed() {
    let app = App::new(APP)
        .drain_timeout(Duration::from_secs(2))
        .processor(Processor::new("stuck", sometimes_stuck).input(["in"]).output("out"));
    let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    for v in [1u64, 2, 13, 14] {
        d.pipe("in", &v);
    }
    assert_eq!(
        d.output_values::<u64>("out"),
        vec![1, 2],
        "order is kept: 14 waits behind 13"
    );
    d.stop(0).unwrap();
    // Offsets 0 and 1 are done; 13 (offset 2) never finished, so it and 14 stay uncommitted.
    assert_eq!(
        d.broker().committed(&group("stuck"), &TopicPartition::new("in", 0)),
        Some(Offset(2))
    );
}

#[test]
fn run_until_drains_and_commits_before_returning() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = MemoryBroker::new();
        broker.create_topic("in", 2).unwrap();
        for v in 0..100u64 {
            broker
                .produce(OutRecord::new("in", v.to_string()).with_key(v.to_be_bytes().to_vec()))
                .unwrap();
        }
        let b = broker.clone();
        let all_out = async move {
            while b.records("out").len() < 100 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let app = App::new(APP)
            .transport(broker.clone())
            .commit_interval(Duration::from_secs(3600)) // only the final commit can do it
            .processor(Processor::new("copy", |f: Flow<u64>| f).input(["in"]).output("out"));
        tokio::time::timeout(Duration::from_secs(30), app.run_until(all_out))
            .await
            .expect("stops")
            .unwrap();
        let committed = broker.committed_total(&group("copy"), "in");
        assert_eq!(committed, 100, "the final commit covers everything that was processed");
    });
}
