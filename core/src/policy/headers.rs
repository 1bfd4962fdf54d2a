//! The headers kflow writes on dead-letter and retry records, and reads back.

use std::sync::Arc;

use crate::error::ErrorKind;
use crate::record::{Headers, RawRecord, TimestampType};

/// Header names. kflow's own are UTF-8 text, numbers in decimal; names starting with
/// `kflow.` are reserved for these.
pub mod names {
    /// The topic the record was first read from.
    pub const ORIGINAL_TOPIC: &str = "kflow.original.topic";
    /// Its partition.
    pub const ORIGINAL_PARTITION: &str = "kflow.original.partition";
    /// Its offset.
    pub const ORIGINAL_OFFSET: &str = "kflow.original.offset";
    /// Its timestamp (ms since the epoch).
    pub const ORIGINAL_TIMESTAMP: &str = "kflow.original.timestamp";
    /// The consumer group that failed on it.
    pub const CONSUMER_GROUP: &str = "kflow.consumer.group";
    /// The listener or processor that failed on it.
    pub const PROCESSOR: &str = "kflow.processor";
    /// `deserialization`, `handler`, `serialization` or `produce`.
    pub const ERROR_KIND: &str = "kflow.error.kind";
    /// The last error's message.
    pub const ERROR_MESSAGE: &str = "kflow.error.message";
    /// How many times processing was attempted in all (in place and through retry topics).
    pub const ATTEMPTS: &str = "kflow.attempts";
    /// When the first attempt failed (ms since the epoch).
    pub const FIRST_FAILURE: &str = "kflow.failure.first";
    /// When the last attempt failed (ms since the epoch).
    pub const LAST_FAILURE: &str = "kflow.failure.last";
    /// On retry records: the retry level (1 for `.retry.1`).
    pub const RETRY_LEVEL: &str = "kflow.retry.level";
    /// On retry records: when the record is due to be handled again (ms since the epoch).
    pub const RETRY_DUE: &str = "kflow.retry.due";

    /// Spring Kafka's dead-letter headers (`DeadLetter::spring_headers`): text, or binary
    /// big-endian numbers (partition: 4 bytes; offset and timestamp: 8 bytes).
    pub mod spring {
        /// Original topic (text).
        pub const ORIGINAL_TOPIC: &str = "kafka_dlt-original-topic";
        /// Original partition (i32, big-endian).
        pub const ORIGINAL_PARTITION: &str = "kafka_dlt-original-partition";
        /// Original offset (i64, big-endian).
        pub const ORIGINAL_OFFSET: &str = "kafka_dlt-original-offset";
        /// Original timestamp (i64 ms, big-endian).
        pub const ORIGINAL_TIMESTAMP: &str = "kafka_dlt-original-timestamp";
        /// `CreateTime` or `LogAppendTime`.
        pub const ORIGINAL_TIMESTAMP_TYPE: &str = "kafka_dlt-original-timestamp-type";
        /// Consumer group (text).
        pub const ORIGINAL_CONSUMER_GROUP: &str = "kafka_dlt-original-consumer-group";
        /// The error's "class": `kflow.<kind>` (e.g. `kflow.handler`).
        pub const EXCEPTION_FQCN: &str = "kafka_dlt-exception-fqcn";
        /// The error message (text).
        pub const EXCEPTION_MESSAGE: &str = "kafka_dlt-exception-message";
    }
}

/// Where a failed record first came from, and what happened to it before (read back from
/// the headers of a retry record; from its metadata otherwise).
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    /// Attempts before this delivery.
    pub attempts: u32,
    pub first_failure: Option<i64>,
    /// Retry level this delivery came from (0: the original topic).
    pub level: usize,
}

fn number<T: std::str::FromStr>(headers: &Headers, name: &str) -> Option<T> {
    headers.get_str(name)?.parse().ok()
}

impl Origin {
    pub fn of(record: &RawRecord) -> Origin {
        let h = &record.headers;
        let meta = &record.meta;
        match number::<usize>(h, names::RETRY_LEVEL) {
            Some(level) => Origin {
                topic: h
                    .get_str(names::ORIGINAL_TOPIC)
                    .map_or_else(|| meta.topic.clone(), Arc::from),
                partition: number(h, names::ORIGINAL_PARTITION).unwrap_or(meta.partition.0),
                offset: number(h, names::ORIGINAL_OFFSET).unwrap_or(meta.offset.0),
                timestamp: number(h, names::ORIGINAL_TIMESTAMP).unwrap_or(meta.timestamp),
                timestamp_type: meta.timestamp_type,
                attempts: number(h, names::ATTEMPTS).unwrap_or(0),
                first_failure: number(h, names::FIRST_FAILURE),
                level,
            },
            None => Origin {
                topic: meta.topic.clone(),
                partition: meta.partition.0,
                offset: meta.offset.0,
                timestamp: meta.timestamp,
                timestamp_type: meta.timestamp_type,
                attempts: 0,
                first_failure: None,
                level: 0,
            },
        }
    }

    /// When a record read from a retry topic is due (`None` for other records).
    pub fn due_of(record: &RawRecord) -> Option<i64> {
        number(&record.headers, names::RETRY_DUE)
    }
}

/// What failed, for the headers.
pub(crate) struct Failed<'a> {
    pub origin: &'a Origin,
    pub group: &'a str,
    pub processor: &'a str,
    pub kind: ErrorKind,
    pub message: &'a str,
    pub attempts: u32,
    pub first_failure: i64,
    pub last_failure: i64,
}

/// The user's headers: everything but kflow's and Spring's dead-letter family.
pub(crate) fn user_headers(headers: &Headers) -> Headers {
    let mut out = Headers::new();
    for (name, value) in headers.iter() {
        if name.starts_with("kflow.") || name.starts_with("kafka_dlt-") {
            continue;
        }
        match value {
            Some(v) => out.insert(name, v.clone()),
            None => out.insert_null(name),
        }
    }
    out
}

/// kflow's failure headers, appended to `out`.
pub(crate) fn add_kflow(out: &mut Headers, f: &Failed<'_>) {
    out.insert(names::ORIGINAL_TOPIC, f.origin.topic.to_string());
    out.insert(names::ORIGINAL_PARTITION, f.origin.partition.to_string());
    out.insert(names::ORIGINAL_OFFSET, f.origin.offset.to_string());
    out.insert(names::ORIGINAL_TIMESTAMP, f.origin.timestamp.to_string());
    out.insert(names::CONSUMER_GROUP, f.group.to_string());
    out.insert(names::PROCESSOR, f.processor.to_string());
    out.insert(names::ERROR_KIND, f.kind.to_string());
    out.insert(names::ERROR_MESSAGE, f.message.to_string());
    out.insert(names::ATTEMPTS, f.attempts.to_string());
    out.insert(names::FIRST_FAILURE, f.first_failure.to_string());
    out.insert(names::LAST_FAILURE, f.last_failure.to_string());
}

/// Spring's dead-letter headers, appended to `out`.
pub(crate) fn add_spring(out: &mut Headers, f: &Failed<'_>) {
    use names::spring::*;
    out.insert(ORIGINAL_TOPIC, f.origin.topic.to_string());
    out.insert(ORIGINAL_PARTITION, f.origin.partition.to_be_bytes().to_vec());
    out.insert(ORIGINAL_OFFSET, f.origin.offset.to_be_bytes().to_vec());
    out.insert(ORIGINAL_TIMESTAMP, f.origin.timestamp.to_be_bytes().to_vec());
    let ts_type = match f.origin.timestamp_type {
        TimestampType::LogAppendTime => "LogAppendTime",
        _ => "CreateTime",
    };
    out.insert(ORIGINAL_TIMESTAMP_TYPE, ts_type);
    out.insert(ORIGINAL_CONSUMER_GROUP, f.group.to_string());
    out.insert(EXCEPTION_FQCN, format!("kflow.{}", f.kind));
    out.insert(EXCEPTION_MESSAGE, f.message.to_string());
}

/// The topic a dead-letter record should go back to: kflow's header, else Spring's.
pub(crate) fn replay_target(headers: &Headers) -> Option<String> {
    headers
        .get_str(names::ORIGINAL_TOPIC)
        .or_else(|| headers.get_str(names::spring::ORIGINAL_TOPIC))
        .map(str::to_string)
}
