//! State benchmark: the memory a long window takes, and how fast a store restores.
//!
//! `KFLOW_BENCH_BROKERS=127.0.0.1:PORT cargo bench --bench state`, against tansu (the
//! embedded broker cannot serve it: the apps run in child processes, whose topic
//! creations the mock cluster does not answer). Each kflow app runs in a child process
//! (this binary again, with `KFLOW_STATE_CHILD` set), so each peak RSS is its own:
//!
//! - **memory**: `KFLOW_STATE_RECORDS` records (default 1 000 000) over `KFLOW_STATE_KEYS`
//!   keys (default 10 000), spread over one hour of event time and counted per key in
//!   one-hour tumbling windows (every window stays open), against the stateless pipeline
//!   (filter → map) on the same input as the baseline. A child reports its peak RSS
//!   (`VmHWM`) once every input offset is committed.
//! - **restore**: the windowed app started again under the same name restores its tasks'
//!   changelog partitions before taking records; the child reports the records restored
//!   and the slowest task's restore time (kflow's `kflow_state_restore_*` metrics). The
//!   baseline is a plain rdkafka consumer reading the same changelog topic end to end.
//! - **on disk**: the windowed app again with on-disk stores (`App::state_dir`, a cache
//!   of `KFLOW_STATE_CACHE` slots, default 10 000): its peak RSS and input rate against
//!   the in-memory store's, and its restore after a graceful stop (from the checkpoint:
//!   the records read and the slowest task's time).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The hand-written loops' consumer is not needed here.
#[allow(dead_code)]
mod common;

use common::{unique, CommitWatch, PARTITIONS};
use kflow::kafka::{KafkaConfig, KafkaTransport};
use kflow::plumbing::ack::Ack;
use kflow::plumbing::transport::{NewTopic, OutRecord, Transport};
use kflow::prelude::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, TopicPartitionList};

const HOUR_MS: i64 = 3_600_000;
/// An hour boundary: every record's window is `[BASE, BASE + 1 h)`.
const BASE: i64 = 472_223 * HOUR_MS;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn stateless(values: Flow<u64>) -> Flow<u64> {
    values.filter(|v| v % 2 == 0).map(|v| v * 2)
}

fn windowed(values: Flow<u64>) -> Flow<WindowResult<String, u64>> {
    values
        .group_by_key::<String>()
        .window(Tumbling::of(Duration::from_millis(HOUR_MS as u64)))
        .count()
}

/// This process's peak resident set, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A child: runs `pipeline` as app `app` until `records` input offsets are committed (or,
/// restoring, until every task restored), prints what it measured, and stops.
async fn child(pipeline: &str, brokers: &str, app: &str, input: &str, records: u64) {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only recorder");
    let transport = KafkaTransport::connect(KafkaConfig::new(brokers)).expect("transport");
    let mut app_builder = App::new(app)
        .transport(transport)
        .commit_interval(Duration::from_millis(100));
    if pipeline.ends_with("-disk") {
        let dir = std::env::var("KFLOW_STATE_BENCH_DIR").expect("the parent sets the state dir");
        app_builder = app_builder
            .state_dir(dir)
            .state_cache(setting("KFLOW_STATE_CACHE", 10_000) as usize);
    }
    let started = Instant::now();
    let output = format!("{input}-out");
    let app_builder = match pipeline {
        "stateless" => app_builder.processor(Processor::new("p", stateless).input([input]).output(&output)),
        _ => app_builder.processor(Processor::new("p", windowed).input([input]).output(&output)),
    };
    let handle = app_builder.start().await.expect("the app starts");
    let deadline = Instant::now() + Duration::from_secs(600);
    if pipeline.starts_with("restore") {
        // Every task restored: one restore-seconds sample per task (a snapshot hands out
        // the histogram samples recorded since the one before).
        let mut samples = Vec::new();
        let mut records = 0;
        let (restored, seconds) = loop {
            for (key, _, _, value) in snapshotter.snapshot().into_vec() {
                match (key.key().name(), value) {
                    ("kflow_state_restore_records_total", metrics_util::debugging::DebugValue::Counter(n)) => {
                        records += n
                    }
                    ("kflow_state_restore_seconds", metrics_util::debugging::DebugValue::Histogram(v)) => {
                        samples.extend(v.into_iter().map(|s| s.into_inner()))
                    }
                    _ => {}
                }
            }
            if samples.len() >= PARTITIONS as usize {
                break (records, samples.iter().copied().fold(0.0, f64::max));
            }
            assert!(Instant::now() < deadline, "the tasks did not restore within 600 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!("restored={restored} seconds={seconds}");
    } else {
        let watch = CommitWatch::new(brokers, &format!("{app}-p"), input);
        while watch.total().await < records as i64 {
            assert!(Instant::now() < deadline, "the inputs were not committed within 600 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "rss_kib={} rate={}",
            peak_rss_kib(),
            records as f64 / started.elapsed().as_secs_f64()
        );
    }
    handle.shutdown().await.expect("a clean stop");
}

/// Runs a child and returns what it printed, as `name=value` pairs.
fn run_child(pipeline: &str, brokers: &str, app: &str, input: &str, records: u64) -> HashMap<String, f64> {
    let out = Command::new(std::env::current_exe().expect("this binary"))
        .arg("--bench")
        .env(
            "KFLOW_STATE_CHILD",
            format!("{pipeline} {brokers} {app} {input} {records}"),
        )
        .stderr(Stdio::inherit())
        .output()
        .expect("the child runs");
    assert!(out.status.success(), "the {pipeline} child failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// Reads every record of `topic` from the beginning with a plain consumer: records/s.
fn read_all(brokers: &str, topic: &str) -> (u64, f64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("read"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.queue.backoff.ms", common::FETCH_QUEUE_BACKOFF_MS)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let started = Instant::now();
    let (mut records, mut ended) = (0u64, 0);
    while ended < PARTITIONS {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(_)) => records += 1,
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => panic!("reading {topic}: nothing for 10 s"),
        }
    }
    (records, records as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    if let Ok(args) = std::env::var("KFLOW_STATE_CHILD") {
        let a: Vec<&str> = args.split(' ').collect();
        child(a[0], a[1], a[2], a[3], a[4].parse().expect("records")).await;
        return;
    }
    // `cargo test --all-targets` runs benches once in test mode: nothing to time there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (n, keys) = (
        setting("KFLOW_STATE_RECORDS", 1_000_000),
        setting("KFLOW_STATE_KEYS", 10_000),
    );
    let Ok(brokers) = std::env::var("KFLOW_BENCH_BROKERS") else {
        eprintln!(
            "the state bench needs a broker its child processes can reach: start tansu \
             (`source scripts/services.sh; start_broker`) and set KFLOW_BENCH_BROKERS=$KFLOW_TEST_BROKERS"
        );
        std::process::exit(2);
    };
    let transport = KafkaTransport::connect(KafkaConfig::new(&brokers)).unwrap();
    println!(
        "broker: {}; {n} records, {keys} keys, {PARTITIONS} partitions",
        transport.describe()
    );
    let input = unique("state-in");
    for topic in [input.clone(), format!("{input}-out")] {
        transport
            .admin()
            .create_topic(NewTopic::new(&topic, PARTITIONS))
            .await
            .unwrap();
    }
    let producer = transport.producer().unwrap();
    for i in 0..n {
        let record = OutRecord::new(input.as_str(), i.to_string())
            .with_key(format!("k{}", i % keys))
            .with_timestamp(BASE + (i as i64 * (HOUR_MS - 1)) / n as i64);
        producer.send(record, Ack::none()).await.unwrap();
    }
    producer.flush(Duration::from_secs(120)).await.unwrap();

    let stateless_rss = run_child("stateless", &brokers, &unique("stateless"), &input, n)["rss_kib"];
    let app = unique("windowed");
    let windowed_run = run_child("windowed", &brokers, &app, &input, n);
    let windowed_rss = windowed_run["rss_kib"];
    let restore = run_child("restore", &brokers, &app, &input, n);
    let (restored, seconds) = (restore["restored"], restore["seconds"]);
    let changelog = format!("{app}-p-window-changelog");
    let (read, read_rate) = read_all(&brokers, &changelog);
    let restore_rate = restored / seconds.max(1e-9);
    let state_dir = std::env::temp_dir().join(unique("state-bench"));
    std::env::set_var("KFLOW_STATE_BENCH_DIR", &state_dir);
    let disk_app = unique("windowed-disk");
    let disk = run_child("windowed-disk", &brokers, &disk_app, &input, n);
    let disk_restore = run_child("restore-disk", &brokers, &disk_app, &input, n);
    std::fs::remove_dir_all(&state_dir).ok();
    println!();
    println!("peak RSS, stateless pipeline        {:>10.0} KiB", stateless_rss);
    println!(
        "peak RSS, 1 h windowed count        {:>10.0} KiB  ({:.2}× stateless; {keys} keys × 1 open window)",
        windowed_rss,
        windowed_rss / stateless_rss.max(1.0)
    );
    println!(
        "restore                             {:>10.0} records/s  ({restored:.0} records, slowest task {seconds:.2} s)",
        restore_rate
    );
    println!(
        "plain consumer, same changelog      {:>10.0} records/s  ({read} records); restore ÷ plain = {:.2}",
        read_rate,
        restore_rate / read_rate.max(1.0)
    );
    let memory_rate = windowed_run["rate"];
    println!(
        "peak RSS, on disk (cache {})     {:>10.0} KiB  ({:.2}× in memory)",
        setting("KFLOW_STATE_CACHE", 10_000),
        disk["rss_kib"],
        disk["rss_kib"] / windowed_rss.max(1.0)
    );
    println!(
        "input rate, on disk                 {:>10.0} records/s  (in memory {:.0}; {:.2}×)",
        disk["rate"],
        memory_rate,
        disk["rate"] / memory_rate.max(1.0)
    );
    println!(
        "restore on disk after a stop        {:>10.0} records read  (slowest task {:.3} s; in memory {restored:.0} records, {seconds:.2} s)",
        disk_restore["restored"], disk_restore["seconds"]
    );
}
