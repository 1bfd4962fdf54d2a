//! Helpers for the Kafka connector's tests: brokers, topics, producing and reading.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kflow_core::ack::Ack;
use kflow_core::transport::{NewTopic, OutRecord, Transport};
use kflow_kafka::{KafkaConfig, KafkaTransport};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, TopicPartitionList};

pub mod broker;

pub use broker::unique;

/// Consumer settings every test app uses: short sessions (the broker waits half of it on
/// each group join).
pub const TEST_PROPS: [(&str, &str); 2] = [("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500")];

/// The real broker's transport (started by `broker`).
pub fn real() -> KafkaTransport {
    let brokers = broker::address();
    KafkaTransport::connect(KafkaConfig::new(&brokers)).expect("connect to the test broker")
}

pub async fn create(t: &KafkaTransport, topic: &str, partitions: i32) {
    t.admin()
        .create_topic(NewTopic::new(topic, partitions))
        .await
        .expect("topic created");
}

/// Writes `values` as UTF-8 with keys `k<i>` and flushes.
pub async fn produce(t: &KafkaTransport, topic: &str, values: impl IntoIterator<Item = String>) {
    let producer = t.producer().unwrap();
    for (i, v) in values.into_iter().enumerate() {
        let rec = OutRecord::new(topic, v).with_key(format!("k{i}"));
        producer.send(rec, Ack::none()).await.expect("queued");
    }
    producer.flush(Duration::from_secs(30)).await.expect("flushed");
}

/// A record as read back by the tests.
#[derive(Debug, Clone)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    /// The value as (lossy) UTF-8.
    pub value: Option<String>,
    /// The value's bytes.
    pub bytes: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
    /// Header names and values as bytes (a null value reads as empty).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Read {
    /// The last header with this name, as UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name.as_bytes())
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Every record of `topic` (read without a group), waiting until at least `want` arrived or
/// `within` passed.
pub fn read(t: &KafkaTransport, topic: &str, want: usize, within: Duration) -> Vec<(i32, i64, Option<String>, String)> {
    read_full(t, topic, want, within)
        .into_iter()
        .map(|r| (r.partition, r.offset, r.key, r.value.unwrap_or_default()))
        .collect()
}

/// Reads `topic` again and again until `done` holds for everything in it or `within`
/// passes; returns the last read. For outputs that may hold duplicates (after a crash or
/// a rebalance), where a record count says nothing.
pub fn read_until(
    t: &KafkaTransport,
    topic: &str,
    within: Duration,
    done: impl Fn(&[(i32, i64, Option<String>, String)]) -> bool,
) -> Vec<(i32, i64, Option<String>, String)> {
    let deadline = Instant::now() + within;
    loop {
        let out = read(t, topic, usize::MAX, Duration::from_secs(3));
        if done(&out) || Instant::now() >= deadline {
            return out;
        }
    }
}

/// [`read`] with headers and timestamps.
pub fn read_full(t: &KafkaTransport, topic: &str, want: usize, within: Duration) -> Vec<Read> {
    scan(t, topic, want, within, None)
}

/// Every record of `topic`, read until none arrived for `idle` (at most `within`): for
/// topics too large to read in one short window.
pub fn read_settled(
    t: &KafkaTransport,
    topic: &str,
    idle: Duration,
    within: Duration,
) -> Vec<(i32, i64, Option<String>, String)> {
    scan(t, topic, usize::MAX, within, Some(idle))
        .into_iter()
        .map(|r| (r.partition, r.offset, r.key, r.value.unwrap_or_default()))
        .collect()
}

/// Reads `topic` from the beginning until `want` records arrived, `within` passed, or
/// (with `idle`) no record arrived for that long.
fn scan(t: &KafkaTransport, topic: &str, want: usize, within: Duration, idle: Option<Duration>) -> Vec<Read> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", t.config().brokers())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut last = Instant::now();
    while out.len() < want && Instant::now() < deadline && idle.is_none_or(|idle| last.elapsed() < idle) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            last = Instant::now();
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let headers = kflow_kafka::message_headers(m.headers())
                .iter()
                .map(|(n, v)| (n.to_vec(), v.map(|v| v.to_vec()).unwrap_or_default()))
                .collect();
            out.push(Read {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(text),
                value: m.payload().map(text),
                bytes: m.payload().map(<[u8]>::to_vec),
                timestamp: m.timestamp().to_millis(),
                headers,
            });
        }
    }
    out
}

/// The committed offsets of `group` on `topic`'s partitions, read through one client per
/// group kept for the whole test process: tests poll them every few milliseconds, and a
/// new client each time (threads, connections, a coordinator lookup) loads a busy
/// machine enough to slow the apps under test. The library's own look-up
/// (`Admin::committed`) is asserted in `group_ops.rs`.
pub async fn committed(t: &KafkaTransport, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, Option<i64>> {
    let client = group_client(t.config(), group);
    let (group, topic) = (group.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(&topic, p);
        }
        let got = client
            .committed_offsets(tpl, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the committed offsets of group {group}: {e}"));
        (0..partitions)
            .map(|p| {
                let offset = got
                    .find_partition(&topic, p)
                    .and_then(|e| e.offset().to_raw())
                    .filter(|o| *o >= 0);
                (p, offset)
            })
            .collect()
    })
    .await
    .expect("the lookup ran")
}

type GroupClients = std::sync::Mutex<std::collections::HashMap<(String, String), std::sync::Arc<BaseConsumer>>>;

/// The kept client of `group` on `config`'s brokers (see [`committed`]).
fn group_client(config: &KafkaConfig, group: &str) -> std::sync::Arc<BaseConsumer> {
    static CLIENTS: std::sync::OnceLock<GroupClients> = std::sync::OnceLock::new();
    let mut clients = CLIENTS.get_or_init(Default::default).lock().expect("clients");
    clients
        .entry((config.brokers().to_string(), group.to_string()))
        .or_insert_with(|| {
            let settings = [
                ("group.id".to_string(), group.to_string()),
                ("enable.auto.commit".to_string(), "false".to_string()),
            ];
            let client: BaseConsumer = config
                .consumer_config(&settings)
                .and_then(|c| {
                    c.create()
                        .map_err(|e| kflow_core::Error::transport("a group client", e.to_string()))
                })
                .expect("a group client");
            std::sync::Arc::new(client)
        })
        .clone()
}

/// Polls `group`'s committed offsets on `topic` every 100 ms until they add up to `want`,
/// for at most `within`; returns whether they did.
pub async fn committed_reaches(
    t: &KafkaTransport,
    group: &str,
    topic: &str,
    partitions: i32,
    want: i64,
    within: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let sum: i64 = committed(t, group, topic, partitions)
            .await
            .values()
            .map(|o| o.unwrap_or(0))
            .sum();
        if sum == want {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `done` every 50 ms until it holds or `within` passes; returns whether it held.
pub async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// Applies [`TEST_PROPS`] to a processor.
pub fn props<In: Send + 'static, Out: Send + 'static, O>(
    mut p: kflow_core::Processor<In, Out, O>,
) -> kflow_core::Processor<In, Out, O> {
    for (k, v) in TEST_PROPS {
        p = p.property(k, v);
    }
    p
}

/// Numbers `range` as JSON strings.
pub fn numbers(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|v| v.to_string()).collect()
}

/// How often each value (a JSON number) occurs in what was read.
pub fn tally(read: &[(i32, i64, Option<String>, String)]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for r in read {
        *counts.entry(r.3.parse::<u64>().unwrap()).or_default() += 1;
    }
    counts
}

/// Applies [`TEST_PROPS`] to a listener.
pub fn listener_props<T: Send + 'static>(l: kflow_core::Listener<T>) -> kflow_core::Listener<T> {
    TEST_PROPS.iter().fold(l, |l, (k, v)| l.property(k, v))
}

/// Starts an app with id `app_id` on `t`, committing every 100 ms, with what `units`
/// adds (listeners, processors).
pub async fn start_app(
    t: &KafkaTransport,
    app_id: &str,
    units: impl FnOnce(kflow_core::App) -> kflow_core::App,
) -> kflow_core::AppHandle {
    let app = kflow_core::App::new(app_id)
        .transport(t.clone())
        .commit_interval(Duration::from_millis(100));
    units(app).start().await.expect("the app starts")
}
