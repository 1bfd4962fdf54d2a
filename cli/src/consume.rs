//! `kflow consume`: prints records, as a group member or from the partitions directly.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use kflow::codec::Decode;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, TopicPartitionList};
use serde_json::{json, Map, Value};

use crate::connect::{Connection, ValueFormat};

/// How records are printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// A header line and the value, indented.
    Pretty,
    /// One JSON object per record.
    Json,
}

/// Where reading starts, as kcat and rpk spell it (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// `beginning`: the first offset still kept.
    Beginning,
    /// `end`: only records written from now on.
    End,
    /// `N`: this offset.
    Offset(i64),
    /// `-N`: N records before the end of each partition.
    FromEnd(i64),
    /// `@MS`: the first record at or after this time (milliseconds since the epoch).
    Timestamp(i64),
}

/// Parses `-o`.
pub fn parse_start(s: &str) -> Result<StartAt, String> {
    let bad = || format!("`{s}` is not an offset: use beginning, end, N, -N or @TIMESTAMP_MS");
    match s {
        "beginning" | "earliest" => Ok(StartAt::Beginning),
        "end" | "latest" => Ok(StartAt::End),
        _ if s.starts_with('@') => s[1..].parse().map(StartAt::Timestamp).map_err(|_| bad()),
        _ if s.starts_with('-') => s[1..].parse().map(StartAt::FromEnd).map_err(|_| bad()),
        _ => s.parse().map(StartAt::Offset).map_err(|_| bad()),
    }
}

/// `kflow consume` flags.
#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// The topic.
    pub topic: String,
    /// Consume as this group (committing what was printed); without it, every partition
    /// is read directly and nothing is committed.
    #[arg(long, short)]
    pub group: Option<String>,
    /// Start at the beginning of each partition (without a group, the default is the end).
    #[arg(long, conflicts_with = "offset")]
    pub from_beginning: bool,
    /// Where to start, as kcat spells it: `beginning`, `end`, an offset `N`, `-N` (N
    /// before the end), `@MS` (a time). Without a group only.
    #[arg(long, short = 'o', value_parser = parse_start, allow_hyphen_values = true)]
    pub offset: Option<StartAt>,
    /// Only these partitions (repeatable). Without a group only.
    #[arg(long, short = 'p')]
    pub partition: Vec<i32>,
    /// Stop once every partition read reached its end. Without a group only.
    #[arg(long, short = 'e')]
    pub exit_at_end: bool,
    /// Print each record with this format instead of `--output`: `%t` topic, `%p`
    /// partition, `%o` offset, `%T` timestamp (ms), `%k` key, `%v` value, `%h` headers
    /// (`name=value,...`), `%K` and `%S` key and value sizes, `%%`; `\n`, `\t`.
    #[arg(long, short = 'f')]
    pub format: Option<String>,
    /// Print each record as its key, this delimiter and its value (kcat's `-K`), instead
    /// of `--output`; `\n` and `\t` are understood.
    #[arg(long, short = 'K', conflicts_with = "format")]
    pub key_delimiter: Option<String>,
    /// Print each record's value followed by this delimiter (kcat's `-D`; with `-K`, after
    /// key and value), instead of `--output`; `\n` and `\t` are understood.
    #[arg(long, short = 'D', conflicts_with = "format")]
    pub delimiter: Option<String>,
    /// Stop after this many records.
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// Stop once no record arrived for this many seconds.
    #[arg(long)]
    pub idle_timeout: Option<u64>,
    /// How values are read (with `json`, a value that is not JSON is shown as text).
    #[arg(long, value_enum, default_value = "json")]
    pub value_format: ValueFormat,
    /// How records are printed (`json`: one object per line, which `kflow produce
    /// --envelope` reads back).
    #[arg(long, value_enum, default_value = "pretty")]
    pub output: Output,
}

pub async fn run(connection: &Connection, args: ConsumeArgs) -> Result<()> {
    let transport = connection.transport()?;
    let partitions = transport
        .kafka_admin()
        .describe(&args.topic)
        .await
        .with_context(|| format!("cannot consume `{}`", args.topic))?
        .partitions;
    let avro = match args.value_format {
        ValueFormat::Avro => Some(connection.registry()?.avro_value()),
        _ => None,
    };
    if args.group.is_some() && (args.offset.is_some() || !args.partition.is_empty() || args.exit_at_end) {
        bail!("-o, -p and -e read partitions directly: leave out --group (a group resumes at its committed offsets)");
    }
    if let Some(missing) = args.partition.iter().find(|p| !partitions.iter().any(|d| d.id == **p)) {
        bail!(
            "`{}` has no partition {missing} ({} partitions)",
            args.topic,
            partitions.len()
        );
    }
    let start = match (args.offset, args.from_beginning) {
        (Some(at), _) => at,
        (None, true) => StartAt::Beginning,
        (None, false) => StartAt::End,
    };
    let reset = if start == StartAt::End { "latest" } else { "earliest" };
    let commit = if args.group.is_some() { "true" } else { "false" };
    let config = transport.config().consumer_config(&[
        (
            "group.id".into(),
            args.group.clone().unwrap_or_else(|| "kflow-cli".into()),
        ),
        ("auto.offset.reset".into(), reset.into()),
        ("enable.auto.offset.store".into(), "false".into()),
        ("enable.auto.commit".into(), commit.into()),
        ("enable.partition.eof".into(), args.exit_at_end.to_string()),
    ])?;
    let consumer: BaseConsumer = config.create().context("cannot create a consumer")?;
    match &args.group {
        Some(_) => consumer.subscribe(&[&args.topic])?,
        None => {
            let position = match start {
                StartAt::Beginning => rdkafka::Offset::Beginning,
                StartAt::End => rdkafka::Offset::End,
                StartAt::Offset(n) => rdkafka::Offset::Offset(n),
                StartAt::FromEnd(n) => rdkafka::Offset::OffsetTail(n),
                StartAt::Timestamp(ms) => rdkafka::Offset::Offset(ms),
            };
            let mut tpl = TopicPartitionList::new();
            for p in partitions
                .iter()
                .filter(|p| args.partition.is_empty() || args.partition.contains(&p.id))
            {
                tpl.add_partition_offset(&args.topic, p.id, position)?;
            }
            if matches!(start, StartAt::Timestamp(_)) {
                // The broker's time index gives each partition's first offset at or after it.
                tpl = consumer
                    .offsets_for_times(tpl, Duration::from_secs(30))
                    .context("looking up offsets by time")?;
            }
            consumer.assign(&tpl)?;
        }
    }
    let reading = if args.partition.is_empty() {
        partitions.len()
    } else {
        args.partition.len()
    };
    let mut at_end = std::collections::BTreeSet::new();
    let mut printed = 0u64;
    let mut last = Instant::now();
    loop {
        if args.count.is_some_and(|n| printed >= n) {
            break;
        }
        if args
            .idle_timeout
            .is_some_and(|s| last.elapsed() >= Duration::from_secs(s))
        {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = match message {
            Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                at_end.insert(p);
                if at_end.len() >= reading {
                    break;
                }
                continue;
            }
            other => other.context("consuming")?,
        };
        at_end.remove(&message.partition());
        last = Instant::now();
        let value = value_of(&message, args.value_format, avro.as_ref()).await;
        match (&args.format, &args.key_delimiter, &args.delimiter) {
            (Some(format), _, _) => print!("{}", formatted(format, &message, &value)),
            (None, None, None) => print(&message, value, args.output),
            (None, key, end) => print!("{}", delimited(&message, &value, key.as_deref(), end.as_deref())),
        }
        if args.group.is_some() {
            consumer.store_offset_from_message(&message)?;
        }
        printed += 1;
    }
    if args.group.is_some() {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        match consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
            // The auto-commit already committed everything printed.
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => return Err(e).context("committing what was printed"),
        }
    }
    eprintln!("{printed} record(s)");
    if args.count.is_some_and(|n| printed < n) {
        bail!("only {printed} of {} record(s) arrived", args.count.unwrap_or(0));
    }
    Ok(())
}

/// The value as JSON; a value that cannot be read is shown as text with the reason.
async fn value_of(
    m: &BorrowedMessage<'_>,
    format: ValueFormat,
    avro: Option<&kflow::schema_registry::AvroValue>,
) -> Value {
    let Some(bytes) = m.payload() else {
        return Value::Null;
    };
    let text = || String::from_utf8_lossy(bytes).into_owned();
    match (format, avro) {
        (ValueFormat::Json, _) => serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(text())),
        (ValueFormat::Avro, Some(codec)) => {
            let mut decoded = codec.decode(Some(bytes));
            if let (Err(e), Some(fetch)) = (&decoded, codec.fetch(Some(bytes))) {
                if e.transient && fetch.await.is_ok() {
                    decoded = codec.decode(Some(bytes));
                }
            }
            match decoded.map(Value::try_from) {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => json!({ "undecodable": text(), "reason": e.to_string() }),
                Err(e) => json!({ "undecodable": text(), "reason": e.to_string() }),
            }
        }
        _ => Value::String(text()),
    }
}

/// A value as text: strings as they are, nothing for null, other JSON as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// `\n` and `\t` in a delimiter given on the command line.
fn unescaped(delimiter: &str) -> String {
    delimiter.replace("\\n", "\n").replace("\\t", "\t")
}

/// A record as kcat's `-K` and `-D` print it: `[key<K>]value<D>` (`D` is a newline unless
/// given).
fn delimited(m: &BorrowedMessage<'_>, value: &Value, key: Option<&str>, end: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(k) = key {
        out.push_str(
            &m.key()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        );
        out.push_str(&unescaped(k));
    }
    out.push_str(&value_text(value));
    out.push_str(&end.map_or_else(|| "\n".to_string(), unescaped));
    out
}

/// A record printed with a kcat-style format string.
fn formatted(format: &str, m: &BorrowedMessage<'_>, value: &Value) -> String {
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let value_text = value_text(value);
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().copied()) {
            ('%', Some(spec)) => {
                chars.next();
                match spec {
                    't' => out.push_str(m.topic()),
                    'p' => out.push_str(&m.partition().to_string()),
                    'o' => out.push_str(&m.offset().to_string()),
                    'T' => out.push_str(&m.timestamp().to_millis().map_or("-".into(), |t| t.to_string())),
                    'k' => out.push_str(&text(m.key())),
                    'v' => out.push_str(&value_text),
                    'K' => out.push_str(&m.key().map_or(-1, |k| k.len() as i64).to_string()),
                    'S' => out.push_str(&m.payload().map_or(-1, |v| v.len() as i64).to_string()),
                    'h' => {
                        let headers: Vec<String> = kflow::kafka::message_headers(m.headers())
                            .iter_lossy()
                            .map(|(n, v)| {
                                format!(
                                    "{n}={}",
                                    v.map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default()
                                )
                            })
                            .collect();
                        out.push_str(&headers.join(","));
                    }
                    '%' => out.push('%'),
                    other => {
                        out.push('%');
                        out.push(other);
                    }
                }
            }
            ('\\', Some('n')) => {
                chars.next();
                out.push('\n');
            }
            ('\\', Some('t')) => {
                chars.next();
                out.push('\t');
            }
            ('\\', Some('\\')) => {
                chars.next();
                out.push('\\');
            }
            (c, _) => out.push(c),
        }
    }
    out
}

fn print(m: &BorrowedMessage<'_>, value: Value, output: Output) {
    let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
    let mut headers = Map::new();
    for (name, value) in kflow::kafka::message_headers(m.headers()).iter_lossy() {
        let v = value.map(|v| Value::String(String::from_utf8_lossy(v).into_owned()));
        headers.insert(name.into_owned(), v.unwrap_or(Value::Null));
    }
    let timestamp = m.timestamp().to_millis();
    match output {
        Output::Json => println!(
            "{}",
            json!({
                "topic": m.topic(),
                "partition": m.partition(),
                "offset": m.offset(),
                "timestamp": timestamp,
                "key": key,
                "headers": headers,
                "value": value,
            })
        ),
        Output::Pretty => {
            let when = timestamp
                .and_then(|ms| u64::try_from(ms).ok())
                .map(|ms| {
                    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
                })
                .unwrap_or_else(|| "-".into());
            let mut line = format!("{}/{}@{}  {when}", m.topic(), m.partition(), m.offset());
            if let Some(k) = key {
                line.push_str(&format!("  key={k}"));
            }
            for (name, v) in &headers {
                line.push_str(&format!("  {name}={}", v.as_str().unwrap_or("null")));
            }
            println!("{line}");
            let body = serde_json::to_string_pretty(&value).unwrap_or_default();
            for l in body.lines() {
                println!("  {l}");
            }
        }
    }
}
