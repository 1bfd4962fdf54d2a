//! `kflow produce`: JSON lines to a topic, checked in full before anything is sent.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kflow::codec::Encode;
use kflow::kafka::{Acks, Compression, Partitioning, ProduceRecord, ProducerOptions, TypedProducer};
use serde_json::Value;

use crate::connect::{key_value, Connection, ValueFormat};

/// Partition choice for records without an explicit partition.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Placement {
    /// Kafka's murmur2 of the key.
    KeyHash,
    /// The next partition for each record.
    RoundRobin,
    /// One partition per 100 records.
    Sticky,
}

/// `kflow produce` flags.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// The topic (it must exist).
    pub topic: String,
    /// Read from this file instead of stdin.
    #[arg(long, short)]
    pub file: Option<PathBuf>,
    /// Each line is `{"key": .., "value": .., "headers": {..}, "partition": n, "timestamp": ms}`
    /// (only `value` is required) instead of the bare value; `topic` and `offset` are
    /// ignored, so `kflow consume --output json` lines can be written back.
    #[arg(long)]
    pub envelope: bool,
    /// The key of every record.
    #[arg(long, conflicts_with = "key_field")]
    pub key: Option<String>,
    /// Take each record's key from this top-level field of its value.
    #[arg(long)]
    pub key_field: Option<String>,
    /// A header for every record, `name=value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE")]
    pub headers: Vec<String>,
    /// Send every record to this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// How values are written (`avro` needs `--value-schema`; the schema is registered
    /// under `<topic>-value`).
    #[arg(long, value_enum, default_value = "json")]
    pub value_format: ValueFormat,
    /// The Avro schema file (`.avsc`) for `--value-format avro`.
    #[arg(long)]
    pub value_schema: Option<PathBuf>,
    /// Batch compression.
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    pub compression: Compression,
    /// Acknowledgements: `all` (default), `1` or `0` (the last two turn idempotence off).
    #[arg(long, default_value = "all", value_parser = ["all", "1", "0"])]
    pub acks: String,
    /// Partition choice for records without a partition.
    #[arg(long, value_enum, default_value = "key-hash")]
    pub partitioning: Placement,
    /// Each line is the value as it is (no JSON), sent as it is read: the input is
    /// streamed, not checked in full first.
    #[arg(long, conflicts_with_all = ["envelope", "key_field", "value_format"])]
    pub raw: bool,
    /// With `--raw`: the key is the part of the line before the first DELIM, as kcat's
    /// `-K` (a line without it has no key).
    #[arg(long, short = 'K', value_name = "DELIM", requires = "raw")]
    pub key_delimiter: Option<String>,
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    Compression::parse(s).map_err(|e| e.to_string())
}

/// One parsed line.
struct Line {
    number: usize,
    key: Option<Bytes>,
    value: Option<Value>,
    headers: Vec<(String, String)>,
    partition: Option<i32>,
    timestamp: Option<i64>,
}

pub async fn run(connection: &Connection, args: ProduceArgs) -> Result<()> {
    let input: Box<dyn Read + Send> = match &args.file {
        Some(path) => Box::new(std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?),
        None => Box::new(std::io::stdin()),
    };
    if args.raw {
        return stream_raw(connection, &args, input).await;
    }
    let lines = parse(BufReader::new(input), &args)?;
    if lines.is_empty() {
        bail!("no records in the input: nothing was sent");
    }
    let transport = target(connection, &args.topic).await?;
    let encoder = Encoder::new(connection, &args).await?;
    let mut encoded = Vec::with_capacity(lines.len());
    for line in &lines {
        let value = match &line.value {
            Some(v) => Some(
                encoder
                    .encode(&args.topic, v)
                    .with_context(|| format!("line {}: nothing was sent", line.number))?,
            ),
            None => None,
        };
        encoded.push(value);
    }
    let producer = TypedProducer::raw(transport.config(), options(&args)?)?;
    let bar = ProgressBar::new(lines.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut per_partition: BTreeMap<i32, u64> = BTreeMap::new();
    let mut failures: Vec<(usize, String)> = Vec::new();
    for (chunk_lines, chunk_values) in lines.chunks(1_000).zip(encoded.chunks(1_000)) {
        let records = chunk_lines
            .iter()
            .zip(chunk_values)
            .map(|(line, value)| record(&args, line, value.clone()));
        let reports = producer.send_batch(records).await;
        for (line, report) in chunk_lines.iter().zip(reports) {
            match report {
                Ok(at) => *per_partition.entry(at.partition).or_default() += 1,
                Err(e) => failures.push((line.number, e.to_string())),
            }
        }
        bar.inc(chunk_lines.len() as u64);
    }
    bar.finish_and_clear();
    let sent: u64 = per_partition.values().sum();
    let secs = started.elapsed().as_secs_f64();
    let spread: Vec<String> = per_partition.iter().map(|(p, n)| format!("{p}: {n}")).collect();
    eprintln!(
        "sent {sent} record(s) to {} in {secs:.2} s ({:.0} records/s); per partition: {}",
        args.topic,
        sent as f64 / secs.max(1e-9),
        spread.join(", ")
    );
    if !failures.is_empty() {
        for (line, reason) in failures.iter().take(10) {
            eprintln!("line {line}: not sent: {reason}");
        }
        bail!(
            "{} of {} record(s) were not sent (lines listed above); the other {sent} were",
            failures.len(),
            lines.len()
        );
    }
    Ok(())
}

/// Connects, checking that `topic` exists (nothing is sent otherwise).
async fn target(connection: &Connection, topic: &str) -> Result<kflow::kafka::KafkaTransport> {
    let transport = connection.transport()?;
    if transport.kafka_admin().describe(topic).await.is_err() {
        bail!("topic `{topic}` does not exist: nothing was sent (create it with `kflow topics create {topic}`)");
    }
    Ok(transport)
}

/// `--raw`: lines sent as they are read, in batches of what is there (up to 1 000).
async fn stream_raw(connection: &Connection, args: &ProduceArgs, input: Box<dyn Read + Send>) -> Result<()> {
    let transport = target(connection, &args.topic).await?;
    let mut headers = Vec::new();
    for h in &args.headers {
        let (k, v) = key_value(h, "--header")?;
        headers.push((k.to_string(), v.to_string()));
    }
    let producer = TypedProducer::raw(transport.config(), options(args)?)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<String>>(1_000);
    std::thread::spawn(move || {
        for line in BufReader::new(input).lines() {
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let (mut number, mut sent, mut failed) = (0usize, 0u64, 0u64);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 1_000 {
            match rx.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        let mut records = Vec::with_capacity(batch.len());
        let mut numbers = Vec::with_capacity(batch.len());
        for line in batch {
            number += 1;
            let line = line.with_context(|| format!("reading line {number}"))?;
            let (key, value) = match args.key_delimiter.as_deref().and_then(|d| line.split_once(d)) {
                Some((k, v)) => (Some(k.to_string()), v.to_string()),
                None => (args.key.clone(), line),
            };
            let line = Line {
                number,
                key: key.map(Bytes::from),
                value: None,
                headers: headers.clone(),
                partition: None,
                timestamp: None,
            };
            records.push(record(args, &line, Some(Bytes::from(value))));
            numbers.push(number);
        }
        for (n, report) in numbers.into_iter().zip(producer.send_batch(records).await) {
            match report {
                Ok(_) => sent += 1,
                Err(e) => {
                    failed += 1;
                    eprintln!("line {n}: not sent: {e}");
                }
            }
        }
    }
    eprintln!("sent {sent} record(s) to {}", args.topic);
    if failed > 0 {
        bail!("{failed} line(s) were not sent (listed above)");
    }
    Ok(())
}

fn options(args: &ProduceArgs) -> Result<ProducerOptions> {
    let mut options = ProducerOptions::new().compression(args.compression);
    options = match args.acks.as_str() {
        "1" => options.idempotence(false).acks(Acks::Leader),
        "0" => options.idempotence(false).acks(Acks::None),
        _ => options,
    };
    Ok(options.partitioning(match args.partitioning {
        Placement::KeyHash => Partitioning::KeyHash,
        Placement::RoundRobin => Partitioning::RoundRobin,
        Placement::Sticky => Partitioning::Sticky { switch_after: 100 },
    }))
}

fn record(args: &ProduceArgs, line: &Line, value: Option<Bytes>) -> ProduceRecord<Bytes, Bytes> {
    let mut r = match (value, &line.key) {
        (Some(v), _) => ProduceRecord::new(&args.topic, v),
        (None, Some(k)) => ProduceRecord::tombstone(&args.topic, k.clone()),
        (None, None) => ProduceRecord::tombstone(&args.topic, Bytes::new()),
    };
    if let Some(k) = &line.key {
        r = r.key(k.clone());
    }
    for (name, value) in &line.headers {
        r = r.header(name.clone(), value.clone());
    }
    if let Some(p) = line.partition.or(args.partition) {
        r = r.partition(p);
    }
    if let Some(ts) = line.timestamp {
        r = r.timestamp(ts);
    }
    r
}

/// Parses every line; the first bad one is an error with its number, and nothing is sent.
fn parse(input: impl BufRead, args: &ProduceArgs) -> Result<Vec<Line>> {
    let mut common_headers = Vec::new();
    for h in &args.headers {
        let (k, v) = key_value(h, "--header")?;
        common_headers.push((k.to_string(), v.to_string()));
    }
    let mut out = Vec::new();
    for (i, text) in input.lines().enumerate() {
        let number = i + 1;
        let text = text.with_context(|| format!("reading line {number}"))?;
        if text.trim().is_empty() {
            continue;
        }
        let json: Value =
            serde_json::from_str(&text).with_context(|| format!("line {number} is not JSON: nothing was sent"))?;
        let mut line = Line {
            number,
            key: args.key.as_ref().map(|k| Bytes::from(k.clone())),
            value: None,
            headers: common_headers.clone(),
            partition: None,
            timestamp: None,
        };
        if args.envelope {
            let Value::Object(mut fields) = json else {
                bail!("line {number}: with --envelope each line is an object with a `value`: nothing was sent");
            };
            let Some(value) = fields.remove("value") else {
                bail!("line {number}: the envelope has no `value`: nothing was sent");
            };
            line.value = (!value.is_null()).then_some(value);
            if let Some(k) = fields.remove("key").filter(|k| !k.is_null()) {
                line.key = Some(key_bytes(&k));
            }
            if let Some(h) = fields.remove("headers") {
                let Value::Object(h) = h else {
                    bail!("line {number}: `headers` must be an object of strings: nothing was sent");
                };
                for (name, v) in h {
                    let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    line.headers.push((name, v));
                }
            }
            line.partition = match fields.remove("partition") {
                Some(p) => Some(
                    p.as_i64()
                        .and_then(|p| i32::try_from(p).ok())
                        .with_context(|| format!("line {number}: `partition` must be a number: nothing was sent"))?,
                ),
                None => None,
            };
            line.timestamp = match fields.remove("timestamp") {
                Some(t) => Some(t.as_i64().with_context(|| {
                    format!("line {number}: `timestamp` must be milliseconds since the epoch: nothing was sent")
                })?),
                None => None,
            };
            // What `kflow consume --output json` prints besides: not needed to write.
            fields.remove("topic");
            fields.remove("offset");
            if let Some(unknown) = fields.keys().next() {
                bail!("line {number}: unknown envelope field `{unknown}` (key, value, headers, partition, timestamp): nothing was sent");
            }
        } else {
            line.value = Some(json);
        }
        if let Some(field) = &args.key_field {
            let key = line.value.as_ref().and_then(|v| v.get(field)).filter(|k| !k.is_null());
            let Some(key) = key else {
                bail!("line {number}: the value has no `{field}` field for --key-field: nothing was sent");
            };
            line.key = Some(key_bytes(key));
        }
        out.push(line);
    }
    Ok(out)
}

/// A string key as its text, anything else as compact JSON.
fn key_bytes(key: &Value) -> Bytes {
    match key {
        Value::String(s) => Bytes::from(s.clone()),
        other => Bytes::from(other.to_string()),
    }
}

/// Turns JSON values into the topic's value bytes.
enum Encoder {
    Json,
    String,
    Avro(kflow::schema_registry::AvroValue, Box<apache_avro::Schema>),
}

impl Encoder {
    async fn new(connection: &Connection, args: &ProduceArgs) -> Result<Self> {
        Ok(match args.value_format {
            ValueFormat::Json => Encoder::Json,
            ValueFormat::String => Encoder::String,
            ValueFormat::Avro => {
                let Some(path) = &args.value_schema else {
                    bail!("--value-format avro needs --value-schema FILE.avsc");
                };
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                let schema = apache_avro::Schema::parse_str(&text)
                    .with_context(|| format!("{} is not an Avro schema", path.display()))?;
                let codec = connection.registry()?.avro_value().schema(schema.clone());
                if let Some(prepare) = codec.prepare(&args.topic) {
                    prepare.await.context("registering the value schema")?;
                }
                Encoder::Avro(codec, Box::new(schema))
            }
        })
    }

    fn encode(&self, topic: &str, value: &Value) -> Result<Bytes> {
        Ok(match self {
            Encoder::Json => Bytes::from(value.to_string()),
            Encoder::String => match value {
                Value::String(s) => Bytes::from(s.clone()),
                _ => bail!("--value-format string needs each value to be a JSON string"),
            },
            Encoder::Avro(codec, schema) => {
                let avro = apache_avro::types::Value::from(value.clone())
                    .resolve(schema)
                    .context("the value does not fit the Avro schema")?;
                codec.encode_to(topic, &avro)?.unwrap_or_default()
            }
        })
    }
}
