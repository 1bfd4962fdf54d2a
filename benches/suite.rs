//! The benchmark suite: the same pipelines in kflow, in a hand-written rdkafka loop, in
//! Quix Streams and in faust-streaming, on the same broker and the same generated input,
//! in one run.
//!
//! `cargo bench --bench suite` uses the embedded broker (librdkafka's mock cluster); set
//! `KFLOW_BENCH_BROKERS=127.0.0.1:PORT` for another one. The Python frameworks are installed
//! (pinned) into a virtualenv under `target/bench-venv` on first use. `KFLOW_SUITE_RECORDS`
//! sets the record count (default 1 000 000); `KFLOW_SUITE_SIDES` picks sides
//! (`kflow,hand,quix,faust`); `KFLOW_SUITE_CSV` / `KFLOW_SUITE_PNG` write the table as CSV
//! and as a bar chart (default `target/bench-suite.csv` and `.png`). The Rust sides run
//! `KFLOW_SUITE_REPEATS` times (default 5, alternating; the median is reported).
//! `KFLOW_SUITE_PIPELINES` picks pipelines (`stateless,windowed`).
//!
//! Pipelines: **stateless** (JSON in, keep even values, double them, JSON out) and
//! **windowed** (count per key in 10-second tumbling event-time windows, emitted when a
//! window closes). Each side gets fresh topics (4 partitions) holding identical records
//! (100 keys, one millisecond of event time apart), written before the side starts. The
//! clock runs from the side's first commit (so start-up and group joins are left out) to
//! the commit of its last record. Every side commits every 100 ms (kflow and the hand loop
//! after outputs are acknowledged; Quix and Faust as configured in their scripts), and
//! every librdkafka consumer (kflow, hand loop, Quix) has kflow's `fetch.queue.backoff.ms`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{hand_consumer, unique, CommitWatch, FETCH_QUEUE_BACKOFF_MS, PARTITIONS};
use kflow::kafka::{KafkaConfig, KafkaTransport};
use kflow::plumbing::ack::Ack;
use kflow::plumbing::transport::{NewTopic, OutRecord, Transport};
use kflow::prelude::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use rdkafka::{ClientConfig, Message, TopicPartitionList};

const KEYS: u64 = 100;
const WINDOW_MS: i64 = 10_000;
/// Event time of the first timed record (a whole window).
const BASE: i64 = 1_700_000_000_000;
/// The Python packages, pinned.
const PYTHON_PACKAGES: [&str; 3] = ["quixstreams==3.28.1", "faust-streaming==0.15.3", "matplotlib==3.11.2"];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    id: u64,
    key: String,
    value: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyCount {
    key: String,
    start: i64,
    value: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pipeline {
    Stateless,
    Windowed,
}

impl Pipeline {
    fn name(self) -> &'static str {
        match self {
            Pipeline::Stateless => "stateless",
            Pipeline::Windowed => "windowed",
        }
    }
}

fn stateless(events: Flow<Event>) -> Flow<Event> {
    events.filter(|e| e.value % 2 == 0).map(|e| Event {
        value: e.value * 2,
        ..e
    })
}

fn windowed(events: Flow<Event>) -> Flow<KeyCount> {
    events
        .group_by_key::<String>()
        .window(Tumbling::of(Duration::from_millis(WINDOW_MS as u64)))
        .count()
        .map(|w| KeyCount {
            key: w.key,
            start: w.window.start,
            value: w.value,
        })
}

/// `(key, event, timestamp)` for records `ids`, one millisecond apart from `BASE`.
fn events(ids: std::ops::Range<u64>, shift_ms: i64) -> Vec<(String, Event, i64)> {
    ids.map(|id| {
        let key = format!("k{}", id % KEYS);
        let event = Event {
            id,
            key: key.clone(),
            value: id,
        };
        (key, event, BASE + shift_ms + id as i64)
    })
    .collect()
}

async fn write(t: &KafkaTransport, topic: &str, records: &[(String, Event, i64)]) {
    let producer = t.producer().unwrap();
    for (key, event, ts) in records {
        let value = serde_json::to_vec(event).unwrap();
        let record = OutRecord::new(topic, value).with_key(key.clone()).with_timestamp(*ts);
        producer.send(record, Ack::none()).await.unwrap();
    }
    producer.flush(Duration::from_secs(60)).await.unwrap();
}

/// A side running one pipeline, stopped when dropped.
enum Running {
    Kflow(Option<Box<kflow::AppHandle>>),
    Hand(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>),
    Python(Child),
}

impl Running {
    async fn stop(mut self) {
        match &mut self {
            Running::Kflow(h) => {
                if let Some(h) = h.take() {
                    let _ = h.shutdown().await;
                }
            }
            Running::Hand(stop, thread) => {
                stop.store(true, Ordering::SeqCst);
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
            Running::Python(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The hand-written loop: poll, decode JSON, process, encode, send; every 100 ms flush
/// the producer and commit each partition's position. The windowed variant keeps counts
/// per (window, key) in memory per partition and emits a window once that partition's
/// stream time passed its end.
fn hand_loop(brokers: &str, input: &str, output: &str, group: &str, pipeline: Pipeline, stop: &AtomicBool) {
    let consumer = hand_consumer(brokers, group, input);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    let send = |key: &[u8], value: Vec<u8>| {
        let mut record = BaseRecord::to(output).payload(&value).key(key);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    };
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut stream_time: HashMap<i32, i64> = HashMap::new();
    let mut windows: HashMap<i32, HashMap<(i64, String), u64>> = HashMap::new();
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(10)) {
            let event: Event = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
            match pipeline {
                Pipeline::Stateless => {
                    if event.value % 2 == 0 {
                        let out = Event {
                            value: event.value * 2,
                            ..event
                        };
                        send(m.key().unwrap_or_default(), serde_json::to_vec(&out).unwrap());
                    }
                }
                Pipeline::Windowed => {
                    let ts = m.timestamp().to_millis().unwrap_or_default();
                    let now = stream_time.entry(m.partition()).or_insert(ts);
                    *now = (*now).max(ts);
                    let now = *now;
                    let open = windows.entry(m.partition()).or_default();
                    *open
                        .entry((ts.div_euclid(WINDOW_MS) * WINDOW_MS, event.key))
                        .or_default() += 1;
                    let closed: Vec<(i64, String)> = open
                        .keys()
                        .filter(|(start, _)| start + WINDOW_MS <= now)
                        .cloned()
                        .collect();
                    for (start, key) in closed {
                        let value = open.remove(&(start, key.clone())).unwrap_or_default();
                        let out = KeyCount {
                            key: key.clone(),
                            start,
                            value,
                        };
                        send(key.as_bytes(), serde_json::to_vec(&out).unwrap());
                    }
                }
            }
            next.insert(m.partition(), m.offset() + 1);
        }
        if last_commit.elapsed() > Duration::from_millis(100) && !next.is_empty() {
            producer.flush(Duration::from_secs(30)).unwrap();
            let mut tpl = TopicPartitionList::new();
            for (p, o) in &next {
                tpl.add_partition_offset(input, *p, rdkafka::Offset::Offset(*o))
                    .unwrap();
            }
            let _ = consumer.commit(&tpl, CommitMode::Sync);
            last_commit = Instant::now();
        }
    }
}

struct Env {
    transport: KafkaTransport,
    brokers: String,
    python: Option<PathBuf>,
}

async fn start(
    env: &Env,
    side: &str,
    pipeline: Pipeline,
    input: &str,
    output: &str,
) -> Result<(Running, String), String> {
    let group = unique(side);
    match side {
        "kflow" => {
            let app = App::new(&group)
                .transport(env.transport.clone())
                .commit_interval(Duration::from_millis(100));
            let app = match pipeline {
                Pipeline::Stateless => app.processor(Processor::new("p", stateless).input([input]).output(output)),
                Pipeline::Windowed => app.processor(Processor::new("p", windowed).input([input]).output(output)),
            };
            let handle = app.start().await.map_err(|e| e.to_string())?;
            Ok((Running::Kflow(Some(Box::new(handle))), format!("{group}-p")))
        }
        "hand" => {
            let stop = Arc::new(AtomicBool::new(false));
            let (b, i, o, g, s) = (
                env.brokers.clone(),
                input.to_string(),
                output.to_string(),
                group.clone(),
                stop.clone(),
            );
            let thread = std::thread::spawn(move || hand_loop(&b, &i, &o, &g, pipeline, &s));
            Ok((Running::Hand(stop, Some(thread)), group))
        }
        "quix" | "faust" => {
            let python = env.python.as_ref().ok_or("the Python virtualenv could not be set up")?;
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("benches/python/{side}_pipeline.py"));
            let state = std::env::temp_dir().join(&group);
            let child = Command::new(python)
                .arg(script)
                .args([&env.brokers, input, output, &group, pipeline.name()])
                .arg(&state)
                .arg(FETCH_QUEUE_BACKOFF_MS)
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    std::fs::File::create(std::env::temp_dir().join(format!("{group}.log"))).unwrap(),
                ))
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
            Ok((Running::Python(child), group))
        }
        other => Err(format!("unknown side {other}")),
    }
}

/// Runs one side on one pipeline: msgs/s while it works through records already in its
/// input topic.
///
/// The input is written before the side starts, so the producer's speed does not cap the
/// rate. The clock starts at the side's first commit (it joined its group and is
/// processing; start-up and group joins are left out) and stops once it committed every
/// record: rate = records committed in between / time in between.
async fn run(env: &Env, side: &str, pipeline: Pipeline, n: u64) -> Result<f64, String> {
    let t = &env.transport;
    let (input, output) = (unique("in"), unique("out"));
    for topic in [&input, &output] {
        // An explicit retention: Quix derives its state topics' settings from it.
        let mut new = NewTopic::new(topic, PARTITIONS);
        new.configs.push(("retention.ms".into(), "604800000".into()));
        t.admin().create_topic(new).await.map_err(|e| e.to_string())?;
    }
    let mut records = events(0..n, 0);
    if pipeline == Pipeline::Windowed {
        // One later record per key closes every window of the timed records.
        records.extend(events(n..n + KEYS, 2 * WINDOW_MS));
    }
    write(t, &input, &records).await;
    // The closing records stay in open windows (kflow holds their offsets), so the timed
    // records are what must be committed.
    let total = n as i64;
    let (running, group) = start(env, side, pipeline, &input, &output).await?;
    let deadline = Instant::now() + Duration::from_secs(180 + n / 200);
    let mut first: Option<(Instant, i64)> = None;
    let watch = CommitWatch::new(&env.brokers, &group, &input);
    let finished = loop {
        let done = watch.total().await;
        let now = Instant::now();
        if done > 0 && first.is_none() {
            first = Some((now, done));
        }
        if done >= total {
            break Some(now);
        }
        if now > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // A side may write its last window results just after committing (the hand loop
    // commits positions, not results): give it time to finish before stopping it. A side
    // that did not finish fails without its output being read.
    let mut output_check = Err("not checked".to_string());
    let settle = Instant::now() + Duration::from_secs(30);
    while finished.is_some() && Instant::now() < settle {
        output_check = check_output(env, &output, pipeline, n);
        if output_check.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    running.stop().await;
    let (Some(end), Some((start, before))) = (finished, first) else {
        return Err(match first {
            None => format!(
                "{side} did not start within the time limit (see {}/{group}.log)",
                std::env::temp_dir().display()
            ),
            Some(_) => format!("{side} did not commit every record in time"),
        });
    };
    if before >= total {
        return Err(format!(
            "{side} committed all {total} records at once: raise KFLOW_SUITE_RECORDS to time it"
        ));
    }
    output_check.map_err(|e| format!("{side} committed, but {e}"))?;
    Ok((total - before) as f64 / end.duration_since(start).as_secs_f64())
}

/// The outputs prove the work was done: every even value doubled, or every record counted
/// in a window.
fn check_output(env: &Env, topic: &str, pipeline: Pipeline, n: u64) -> Result<(), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &env.brokers)
        .set("group.id", unique("check"))
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let (mut evens, mut counted) = (0u64, 0u64);
    let mut idle = Instant::now();
    while idle.elapsed() < Duration::from_secs(3) {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        idle = Instant::now();
        let value: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or_default();
        match pipeline {
            Pipeline::Stateless => {
                let (id, v) = (value["id"].as_u64(), value["value"].as_u64());
                if id.is_some_and(|id| id % 2 == 0 && v == Some(id * 2)) {
                    evens += 1;
                }
            }
            Pipeline::Windowed => {
                if value["start"]
                    .as_i64()
                    .is_some_and(|s| (BASE..BASE + n as i64).contains(&s))
                {
                    counted += value["value"].as_u64().unwrap_or_default();
                }
            }
        }
    }
    match pipeline {
        Pipeline::Stateless if evens < n / 2 => Err(format!("only {evens} of {} doubled evens were written", n / 2)),
        Pipeline::Windowed if counted < n => Err(format!("its windows counted {counted} of {n} records")),
        _ => Ok(()),
    }
}

/// The virtualenv's python with the frameworks installed, or why not.
fn python_env() -> Result<PathBuf, String> {
    let venv = std::env::var("KFLOW_SUITE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-venv"));
    let python = venv.join("bin/python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import quixstreams, faust, matplotlib"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    eprintln!(
        "installing {} into {} (first run only)",
        PYTHON_PACKAGES.join(" "),
        venv.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet"])
            .args(PYTHON_PACKAGES)
            .status()
            .is_ok_and(|s| s.success());
    if ok && ready(&python) {
        Ok(python)
    } else {
        Err("`python3 -m venv` or `pip install` failed (see above)".into())
    }
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs benches once in test mode: nothing to time there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: u64 = std::env::var("KFLOW_SUITE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let sides: Vec<String> = std::env::var("KFLOW_SUITE_SIDES")
        .unwrap_or_else(|_| "kflow,hand,quix,faust".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let transport = match std::env::var("KFLOW_BENCH_BROKERS") {
        Ok(b) => KafkaTransport::connect(KafkaConfig::new(&b)).unwrap(),
        Err(_) => KafkaTransport::embedded().unwrap(),
    };
    let python = if sides.iter().any(|s| s == "quix" || s == "faust") {
        python_env()
            .map_err(|e| eprintln!("Python frameworks unavailable: {e}"))
            .ok()
    } else {
        None
    };
    let env = Env {
        brokers: transport.config().brokers().to_string(),
        transport,
        python,
    };
    println!(
        "broker: {}; {n} records, {PARTITIONS} partitions, {KEYS} keys",
        env.transport.describe()
    );
    // The Rust sides take two or three seconds per run and share the cores with the
    // broker, so one run is noisy: they run `KFLOW_SUITE_REPEATS` times (default 5),
    // alternating, and report the median. The Python sides run once (minutes each).
    let repeats: usize = std::env::var("KFLOW_SUITE_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut rows: Vec<(Pipeline, String, Result<f64, String>)> = Vec::new();
    let pipelines = std::env::var("KFLOW_SUITE_PIPELINES").unwrap_or_else(|_| "stateless,windowed".into());
    for pipeline in [Pipeline::Stateless, Pipeline::Windowed] {
        if !pipelines.split(',').any(|p| p.trim() == pipeline.name()) {
            continue;
        }
        let mut runs: Vec<(String, Vec<f64>, Option<String>)> =
            sides.iter().map(|s| (s.clone(), Vec::new(), None)).collect();
        for round in 0..repeats {
            for (side, rates, error) in runs.iter_mut() {
                let python = side == "quix" || side == "faust";
                if (python && round > 0) || error.is_some() {
                    continue;
                }
                match run(&env, side, pipeline, n).await {
                    Ok(rate) => {
                        eprintln!("{} / {side}: {rate:.0} msgs/s", pipeline.name());
                        rates.push(rate);
                    }
                    Err(e) => {
                        eprintln!("{} / {side}: {e}", pipeline.name());
                        *error = Some(e);
                    }
                }
            }
        }
        for (side, mut rates, error) in runs {
            rates.sort_by(f64::total_cmp);
            let result = match (error, rates.get(rates.len() / 2)) {
                (Some(e), _) => Err(e),
                (None, Some(median)) => Ok(*median),
                (None, None) => Err("no run".into()),
            };
            rows.push((pipeline, side, result));
        }
    }
    println!(
        "\n{:<10} {:<7} {:>12} {:>10} {:>10}",
        "pipeline", "side", "msgs/s", "vs hand", "kflow ×"
    );
    let rate = |p: Pipeline, s: &str| {
        rows.iter()
            .find(|r| r.0 == p && r.1 == s)
            .and_then(|r| r.2.as_ref().ok().copied())
    };
    let mut csv = String::from("pipeline,side,msgs_per_s,ratio_to_hand,kflow_speedup\n");
    for (pipeline, side, result) in &rows {
        let hand = rate(*pipeline, "hand");
        let kflow = rate(*pipeline, "kflow");
        match result {
            Ok(r) => {
                let vs_hand = hand.map(|h| r / h);
                let speedup = kflow.map(|k| k / r);
                let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
                println!(
                    "{:<10} {side:<7} {r:>12.0} {:>10} {:>10}",
                    pipeline.name(),
                    fmt(vs_hand),
                    fmt(speedup)
                );
                csv.push_str(&format!(
                    "{},{side},{r:.0},{},{}\n",
                    pipeline.name(),
                    fmt(vs_hand),
                    fmt(speedup)
                ));
            }
            Err(e) => {
                println!("{:<10} {side:<7} {:>12} ({e})", pipeline.name(), "failed");
                csv.push_str(&format!("{},{side},,,\n", pipeline.name()));
            }
        }
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let csv_path = std::env::var("KFLOW_SUITE_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target.join("bench-suite.csv"));
    let png_path = std::env::var("KFLOW_SUITE_PNG")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target.join("bench-suite.png"));
    std::fs::File::create(&csv_path)
        .and_then(|mut f| f.write_all(csv.as_bytes()))
        .unwrap();
    println!("\nCSV: {}", csv_path.display());
    if let Some(python) = &env.python {
        let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/chart.py");
        if Command::new(python)
            .arg(chart)
            .arg(&csv_path)
            .arg(&png_path)
            .status()
            .is_ok_and(|s| s.success())
        {
            println!("chart: {}", png_path.display());
        }
    }
}
