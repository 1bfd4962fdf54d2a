//! Several members of one consumer group on the in-memory transport.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use kflow_core::transport::memory::MemoryBroker;
use kflow_core::transport::OutRecord;
use kflow_core::{Flow, TestDriver};

fn tag(f: Flow<u64>) -> Flow<u64> {
    f.filter(|v| v % 3 != 0).map(|v| v * 10)
}

fn expected(n: u64) -> BTreeSet<u64> {
    (0..n).filter(|v| v % 3 != 0).map(|v| v * 10).collect()
}

fn produce(d: &mut TestDriver, range: std::ops::Range<u64>) {
    for v in range {
        d.broker()
            .produce(OutRecord::new("in", v.to_string()).with_key(format!("k{v}")))
            .unwrap();
        if v % 10 == 0 {
            d.settle();
        }
    }
    d.settle();
}

#[test]
fn two_members_share_the_partitions_and_together_process_everything() {
    let mut d = TestDriver::empty(&[("in", 6)]).unwrap();
    d.start(app("tag", tag)).unwrap();
    d.start(app("tag", tag)).unwrap();
    let members = d.broker().group_members(&group("tag"));
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].1.len(), 3, "range assignment: three partitions each");
    assert_eq!(members[1].1.len(), 3);
    assert!(members[0].1.iter().all(|p| !members[1].1.contains(p)));
    produce(&mut d, 0..300);
    let out: Vec<u64> = d.output_values("out");
    assert_eq!(out.len(), expected(300).len(), "exactly once without failures");
    assert_eq!(out.into_iter().collect::<BTreeSet<_>>(), expected(300));
    assert_all_committed(&mut d, &group("tag"), "in");
}

#[test]
fn when_a_member_crashes_the_other_takes_over_and_nothing_is_lost() {
    let mut d = TestDriver::empty(&[("in", 4)]).unwrap();
    d.start(app("tag", tag)).unwrap();
    d.start(app("tag", tag)).unwrap();
    produce(&mut d, 0..100);
    d.committed_total(&group("tag"), "in");
    produce(&mut d, 100..150); // processed but not committed by the crashing member
    d.crash(0);
    assert_eq!(d.broker().group_members(&group("tag")).len(), 1);
    assert_eq!(
        d.broker().group_members(&group("tag"))[0].1.len(),
        4,
        "the survivor owns every partition"
    );
    produce(&mut d, 150..200);
    let out: BTreeSet<u64> = d.output_values("out").into_iter().collect();
    assert_eq!(out, expected(200), "every input is in the output at least once");
    assert_all_committed(&mut d, &group("tag"), "in");
}

#[test]
fn members_joining_and_leaving_mid_stream_lose_nothing() {
    let mut d = TestDriver::empty(&[("in", 6)]).unwrap();
    d.start(app("tag", tag)).unwrap();
    d.start(app("tag", tag)).unwrap();
    produce(&mut d, 0..100);
    let third = d.start(app("tag", tag)).unwrap();
    assert_eq!(d.broker().group_members(&group("tag")).len(), 3);
    produce(&mut d, 100..200);
    d.stop(third).unwrap();
    produce(&mut d, 200..300);
    let out: Vec<u64> = d.output_values("out");
    assert_eq!(out.iter().copied().collect::<BTreeSet<_>>(), expected(300));
    assert_eq!(
        out.len(),
        expected(300).len(),
        "graceful rebalances commit before handing over: no duplicates"
    );
    assert_all_committed(&mut d, &group("tag"), "in");
}

#[test]
fn a_restarted_app_resumes_from_its_committed_offsets() {
    let broker = MemoryBroker::new();
    broker.create_topic("in", 2).unwrap();
    let mut d = TestDriver::on_broker(broker.clone()).unwrap();
    d.start(app("tag", tag)).unwrap();
    produce(&mut d, 0..50);
    d.shutdown().unwrap();
    let mut d = TestDriver::on_broker(broker).unwrap();
    d.start(app("tag", tag)).unwrap();
    produce(&mut d, 50..60);
    let out: Vec<u64> = d.output_values("out");
    assert_eq!(
        out.len(),
        expected(60).len(),
        "nothing reprocessed after a graceful stop"
    );
    assert_eq!(out.into_iter().collect::<BTreeSet<_>>(), expected(60));
}

/// The real runtime on a multi-threaded tokio runtime, two apps on one in-memory broker,
/// with real time: the interval committer, concurrent partitions, graceful shutdown.
#[test]
fn two_apps_on_a_multithreaded_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = MemoryBroker::new();
        broker.create_topic("in", 4).unwrap();
        let start = |b: &MemoryBroker| {
            app("tag", tag)
                .transport(b.clone())
                .commit_interval(Duration::from_millis(20))
                .start()
        };
        let a = start(&broker).await.unwrap();
        let b = start(&broker).await.unwrap();
        for v in 0..2_000u64 {
            broker
                .produce(OutRecord::new("in", v.to_string()).with_key(v.to_be_bytes().to_vec()))
                .unwrap();
        }
        let want = expected(2_000).len();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while broker.records("out").len() < want && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        a.shutdown().await.unwrap();
        b.shutdown().await.unwrap();
        let out: BTreeSet<u64> = broker
            .records("out")
            .iter()
            .map(|r| std::str::from_utf8(r.value.as_ref().unwrap()).unwrap().parse().unwrap())
            .collect();
        assert_eq!(out, expected(2_000));
        let committed = broker.committed_total(&group("tag"), "in");
        assert_eq!(committed, 2_000, "graceful shutdown commits everything");
    });
}

fn per_key_counts(f: Flow<u64>) -> Flow<kflow_core::window::WindowResult<String, u64>> {
    f.group_by(|v| format!("k{}", v % 7))
        .window(kflow_core::window::Tumbling::of(Duration::from_secs(60)))
        .count()
}

#[test]
fn windowed_counts_stay_correct_when_a_member_leaves_mid_window() {
    let mut d = TestDriver::empty(&[("in", 4)]).unwrap();
    d.start(app("counts", per_key_counts)).unwrap();
    let second = d.start(app("counts", per_key_counts)).unwrap();
    let write = |d: &mut TestDriver, range: std::ops::Range<u64>| {
        for v in range {
            let rec = OutRecord::new("in", v.to_string())
                .with_partition((v % 4) as i32)
                .with_timestamp(v as i64 * 100);
            d.broker().produce(rec).unwrap();
        }
        d.settle();
    };
    write(&mut d, 0..200); // event time 0 .. 20 s: all in the first minute
    d.stop(second).unwrap(); // its open windows are dropped uncommitted and replayed by the survivor
    write(&mut d, 200..400);
    d.advance_stream_time(120_000);
    let mut counts: Vec<(String, u64)> = d
        .output_values::<kflow_core::window::WindowResult<String, u64>>("out")
        .into_iter()
        .map(|w| (w.key, w.value))
        .collect();
    counts.sort();
    let expected: Vec<(String, u64)> = (0..7)
        .map(|k| (format!("k{k}"), (0..400u64).filter(|v| v % 7 == k).count() as u64))
        .collect();
    assert_eq!(counts, expected, "one result per key, counting every record once");
    assert_all_committed(&mut d, &group("counts"), "in");
    assert_all_committed(&mut d, &group("counts"), "t-counts-repartition");
}
