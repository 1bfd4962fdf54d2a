//! In-memory pipeline throughput: kflow flows beside hand-written loops doing the same
//! work, in the same run.
//!
//! `cargo bench --bench pipeline` runs criterion (per-benchmark throughput) and then
//! prints a summary table: records/s of each side (median of 7 interleaved runs of 1 M
//! records, one thread) and the ratio kflow / hand-written.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use kflow::plumbing::ack::OffsetTracker;
use kflow::plumbing::event::{Event, Msg};
use kflow::window::Tumbling;
use kflow::{Flow, Meta, Offset, Partition, Record, TimestampType, TopicPartition};
use serde::{Deserialize, Serialize};

const N: u64 = 1_000_000;
/// 100 sensors, one reading per millisecond, 10-second windows: each window closes with
/// 100 results for 10 000 readings.
const KEYS: u32 = 100;
const WINDOW_MS: i64 = 10_000;

#[derive(Clone, Copy, Serialize, Deserialize)]
struct Reading {
    sensor: u32,
    value: u64,
}

fn reading(i: u64) -> Reading {
    Reading {
        sensor: (i.wrapping_mul(2_654_435_761) % u64::from(KEYS)) as u32,
        value: i,
    }
}

/// Records as a partition source yields them: tracked offsets, one ms apart.
fn tracked_input<T: Send + 'static>(values: impl Iterator<Item = T> + Send + 'static) -> Flow<T> {
    let topic: Arc<str> = Arc::from("bench");
    let mut tracker = OffsetTracker::new(TopicPartition::new(topic.clone(), 0));
    let msgs = values.enumerate().map(move |(i, value)| {
        let offset = Offset(i as i64);
        let meta = Meta {
            topic: topic.clone(),
            partition: Partition(0),
            offset,
            timestamp: i as i64,
            timestamp_type: TimestampType::CreateTime,
        };
        let record = Record {
            key: None,
            value,
            headers: Default::default(),
            meta,
        };
        Msg::new(record, tracker.track(offset))
    });
    Flow::from_msgs(msgs)
}

fn drain<T: Send + 'static>(flow: Flow<T>, mut each: impl FnMut(T)) {
    futures::executor::block_on(flow.into_stream().for_each(|e| {
        if let Event::Msg(m) = e {
            each(m.record.value);
        }
        futures::future::ready(())
    }));
}

fn stateless_kflow() -> u64 {
    let mut sum = 0u64;
    let flow = tracked_input(0..N).filter(|v| v % 2 == 0).map(|v| v * 3 + 1);
    drain(flow, |v| sum = sum.wrapping_add(v));
    sum
}

fn stateless_loop() -> u64 {
    let mut sum = 0u64;
    for v in 0..N {
        let v = black_box(v);
        if v % 2 == 0 {
            sum = sum.wrapping_add(v * 3 + 1);
        }
    }
    sum
}

fn windowed_kflow() -> u64 {
    let mut total = 0u64;
    let flow = tracked_input((0..N).map(reading))
        .group_by(|r| r.sensor)
        .window(Tumbling::of(Duration::from_millis(WINDOW_MS as u64)))
        .count();
    drain(flow, |w| total += w.value);
    total
}

/// The same windowed count by hand: counts per (window, key), emitted when stream time
/// passes a window's end.
fn windowed_loop() -> u64 {
    let mut open: BTreeMap<i64, HashMap<u32, u64>> = BTreeMap::new();
    let mut total = 0u64;
    for i in 0..N {
        let r = black_box(reading(i));
        let ts = i as i64;
        let start = ts.div_euclid(WINDOW_MS) * WINDOW_MS;
        *open.entry(start + WINDOW_MS).or_default().entry(r.sensor).or_default() += 1;
        while let Some(entry) = open.first_entry() {
            if *entry.key() > ts {
                break;
            }
            for (_, n) in entry.remove() {
                total += black_box(n);
            }
        }
    }
    total
}

fn criterion_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(N)).sample_size(10);
    g.bench_function(BenchmarkId::new("stateless", "kflow"), |b| b.iter(stateless_kflow));
    g.bench_function(BenchmarkId::new("stateless", "hand-written"), |b| {
        b.iter(stateless_loop)
    });
    g.bench_function(BenchmarkId::new("windowed-count", "kflow"), |b| b.iter(windowed_kflow));
    g.bench_function(BenchmarkId::new("windowed-count", "hand-written"), |b| {
        b.iter(windowed_loop)
    });
    g.finish();
}

fn median_rate(f: fn() -> u64, runs: usize) -> f64 {
    let mut rates: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            N as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[runs / 2]
}

fn summary() {
    assert_eq!(
        stateless_kflow(),
        stateless_loop(),
        "both sides compute the same result"
    );
    assert_eq!(windowed_kflow(), windowed_loop(), "both sides count every record");
    println!(
        "\n{:<16} {:>16} {:>16} {:>8}",
        "pipeline", "kflow rec/s", "hand rec/s", "ratio"
    );
    for (name, kflow, hand) in [
        (
            "stateless",
            stateless_kflow as fn() -> u64,
            stateless_loop as fn() -> u64,
        ),
        ("windowed-count", windowed_kflow, windowed_loop),
    ] {
        let (mut k, mut h) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            k.push(median_rate(kflow, 1));
            h.push(median_rate(hand, 1));
        }
        k.sort_by(f64::total_cmp);
        h.sort_by(f64::total_cmp);
        let (k, h) = (k[3], h[3]);
        println!("{name:<16} {:>14.1} M {:>14.1} M {:>8.2}", k / 1e6, h / 1e6, k / h);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    // `cargo test --all-targets` runs this binary in test mode: skip the timed summary.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
