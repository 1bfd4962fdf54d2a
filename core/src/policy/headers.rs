//! The headers kflow writes on dead-letter and retry records, and reads back.
//!
//! kflow's headers steer routing (where a dead letter goes, when a retry is due, which
//! retry level comes next) only on records read from the unit's own retry topics, and,
//! for replay, from dead-letter topics. On every other record they are ordinary user
//! headers with no effect: a producer cannot redirect a dead letter or hold a partition
//! by forging them. Dead letters never copy them (kflow writes its own), and what they
//! copy is bounded: see [`MAX_COPIED_HEADER_BYTES`] and [`MAX_ERROR_MESSAGE_BYTES`].

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
    /// On dead letters of produce errors: the topic the record could not be written to.
    pub const OUTPUT_TOPIC: &str = "kflow.output.topic";
    /// On dead letters of records too large to write: the value is left out, and this
    /// header gives its size in bytes.
    pub const VALUE_DROPPED: &str = "kflow.value.dropped";
    /// How many of the failed record's headers were left out of its dead letter (they
    /// went past [`super::MAX_COPIED_HEADER_BYTES`]).
    pub const HEADERS_DROPPED: &str = "kflow.headers.dropped";

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

/// At most this many bytes (names and values) of a failed record's own headers are
/// copied into its dead letter; the rest are left out and counted in
/// [`names::HEADERS_DROPPED`].
pub const MAX_COPIED_HEADER_BYTES: usize = 64 * 1024;

/// Error messages longer than this are cut (at a character boundary) in failure headers.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4 * 1024;

fn number<T: std::str::FromStr>(headers: &Headers, name: &str) -> Option<T> {
    headers.get_str(name)?.parse().ok()
}

impl Origin {
    /// Where `record` first came from. `trusted`: it was read from one of the unit's own
    /// retry topics, whose kflow headers kflow wrote; otherwise they are ignored.
    pub fn of(record: &RawRecord, trusted: bool) -> Origin {
        let h = &record.headers;
        let meta = &record.meta;
        let level = if trusted {
            number::<usize>(h, names::RETRY_LEVEL)
        } else {
            None
        };
        match level {
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

    /// When a record read from one of the unit's retry topics (`trusted`) is due
    /// (`None` for other records, whatever their headers say).
    pub fn due_of(record: &RawRecord, trusted: bool) -> Option<i64> {
        if !trusted {
            return None;
        }
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

/// True for the header families kflow and Spring write on failed records.
fn reserved(name: &[u8]) -> bool {
    name.starts_with(b"kflow.") || name.starts_with(b"kafka_dlt-")
}

/// The user's headers: everything but kflow's and Spring's dead-letter family.
pub(crate) fn user_headers(headers: &Headers) -> Headers {
    let mut out = Headers::new();
    for (name, value) in headers.iter() {
        if !reserved(name) {
            out.push(bytes::Bytes::copy_from_slice(name), value.cloned());
        }
    }
    out
}

/// The user's headers for a dead letter: [`user_headers`], at most
/// [`MAX_COPIED_HEADER_BYTES`] of them (in order), with the number left out in
/// [`names::HEADERS_DROPPED`].
pub(crate) fn bounded_user_headers(headers: &Headers) -> Headers {
    let mut out = Headers::new();
    let (mut used, mut dropped) = (0usize, 0usize);
    for (name, value) in headers.iter().filter(|(n, _)| !reserved(n)) {
        let size = name.len() + value.map_or(0, |v| v.len());
        if used + size > MAX_COPIED_HEADER_BYTES {
            dropped += 1;
            continue;
        }
        used += size;
        out.push(bytes::Bytes::copy_from_slice(name), value.cloned());
    }
    if dropped > 0 {
        out.insert(names::HEADERS_DROPPED, dropped.to_string());
    }
    out
}

/// `message`, cut to at most [`MAX_ERROR_MESSAGE_BYTES`] at a character boundary.
pub(crate) fn bounded_message(message: &str) -> String {
    if message.len() <= MAX_ERROR_MESSAGE_BYTES {
        return message.to_string();
    }
    const MARK: &str = "... (cut)";
    let mut end = MAX_ERROR_MESSAGE_BYTES - MARK.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &message[..end])
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
    out.insert(names::ERROR_MESSAGE, bounded_message(f.message));
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
    out.insert(EXCEPTION_MESSAGE, bounded_message(f.message));
}

/// The topic a dead-letter record should go back to: kflow's header, else Spring's.
pub(crate) fn replay_target(headers: &Headers) -> Option<String> {
    headers
        .get_str(names::ORIGINAL_TOPIC)
        .or_else(|| headers.get_str(names::spring::ORIGINAL_TOPIC))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    #[test]
    fn routing_headers_count_only_on_trusted_records() {
        let record = Record::new(None)
            .with_header(names::RETRY_LEVEL, "1")
            .with_header(names::RETRY_DUE, "99999999999999")
            .with_header(names::ORIGINAL_TOPIC, "payments");
        assert_eq!(Origin::due_of(&record, false), None);
        assert_eq!(Origin::due_of(&record, true), Some(99_999_999_999_999));
        assert_eq!(Origin::of(&record, false).level, 0);
        assert_eq!(&*Origin::of(&record, false).topic, "");
        assert_eq!(&*Origin::of(&record, true).topic, "payments");
    }

    #[test]
    fn dead_letters_copy_a_bounded_amount_of_headers_and_message() {
        let mut headers = Headers::new();
        headers.insert("small", "x");
        headers.insert("huge", vec![b'a'; MAX_COPIED_HEADER_BYTES]);
        headers.insert("kflow.retry.due", "1");
        headers.insert("after", "y");
        let out = bounded_user_headers(&headers);
        let names: Vec<&[u8]> = out.iter().map(|(n, _)| n).collect();
        assert_eq!(names, [&b"small"[..], b"after", b"kflow.headers.dropped"]);
        assert_eq!(out.get_str(names::HEADERS_DROPPED), Some("1"));
        let long = "\u{e9}".repeat(MAX_ERROR_MESSAGE_BYTES);
        let cut = bounded_message(&long);
        assert!(
            cut.len() <= MAX_ERROR_MESSAGE_BYTES && cut.ends_with("(cut)"),
            "{}",
            cut.len()
        );
        assert_eq!(bounded_message("short"), "short");
    }
}
