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
    #[arg(long)]
    pub from_beginning: bool,
    /// Stop after this many records.
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// Stop once no record arrived for this many seconds.
    #[arg(long)]
    pub idle_timeout: Option<u64>,
    /// How values are read (with `json`, a value that is not JSON is shown as text).
    #[arg(long, value_enum, default_value = "json")]
    pub value_format: ValueFormat,
    /// How records are printed.
    #[arg(long, short, value_enum, default_value = "pretty")]
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
    let reset = if args.from_beginning { "earliest" } else { "latest" };
    let commit = if args.group.is_some() { "true" } else { "false" };
    let config = transport.config().client_config(&[
        (
            "group.id".into(),
            args.group.clone().unwrap_or_else(|| "kflow-cli".into()),
        ),
        ("auto.offset.reset".into(), reset.into()),
        ("enable.auto.offset.store".into(), "false".into()),
        ("enable.auto.commit".into(), commit.into()),
    ])?;
    let consumer: BaseConsumer = config.create().context("cannot create a consumer")?;
    match &args.group {
        Some(_) => consumer.subscribe(&[&args.topic])?,
        None => {
            let start = if args.from_beginning {
                rdkafka::Offset::Beginning
            } else {
                rdkafka::Offset::End
            };
            let mut tpl = TopicPartitionList::new();
            for p in &partitions {
                tpl.add_partition_offset(&args.topic, p.id, start)?;
            }
            consumer.assign(&tpl)?;
        }
    }
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
        let message = message.context("consuming")?;
        last = Instant::now();
        let value = value_of(&message, args.value_format, avro.as_ref()).await;
        print(&message, value, args.output);
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
