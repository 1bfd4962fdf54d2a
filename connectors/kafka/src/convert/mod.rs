//! Between rdkafka and kflow: received messages as records, headers as bytes, offset
//! lists, and queueing a record on a producer whose queue may be full.

mod headers;

use std::time::Duration;

use bytes::Bytes;
use kflow_core::{Meta, Offset, Partition, RawRecord, Record, TimestampType, TopicPartition};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Timestamp, TopicPartitionList};

pub(crate) use headers::inject_fatal_error;
pub use headers::message_headers;
pub(crate) use headers::{read as read_headers, write as write_headers};

/// A received message as a kflow record; `topic` is the interned topic name.
pub(crate) fn record(m: &BorrowedMessage<'_>, topic: std::sync::Arc<str>) -> RawRecord {
    let (timestamp, timestamp_type) = match m.timestamp() {
        Timestamp::CreateTime(t) => (t, TimestampType::CreateTime),
        Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppendTime),
        Timestamp::NotAvailable => (0, TimestampType::NotAvailable),
    };
    Record {
        key: m.key().map(Bytes::copy_from_slice),
        value: m.payload().map(Bytes::copy_from_slice),
        headers: read_headers(m.headers()),
        meta: Meta {
            topic,
            partition: Partition(m.partition()),
            offset: Offset(m.offset()),
            timestamp,
            timestamp_type,
        },
    }
}

/// Offsets (each the next to read) as librdkafka's list.
pub(crate) fn offset_list(offsets: &[(TopicPartition, Offset)]) -> KafkaResult<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for (tp, offset) in offsets {
        tpl.add_partition_offset(&tp.topic, tp.partition.0, rdkafka::Offset::Offset(offset.0))?;
    }
    Ok(tpl)
}

/// The offset librdkafka's list holds for `tp`, if it is one (not a logical offset such
/// as "none" or "end", which are negative).
pub(crate) fn offset_in(list: &TopicPartitionList, tp: &TopicPartition) -> Option<i64> {
    list.find_partition(&tp.topic, tp.partition.0)
        .and_then(|e| e.offset().to_raw())
        .filter(|o| *o >= 0)
}

/// How long a producer waits before trying again when its queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(2);

/// True for librdkafka's "queue full" (backpressure, not a failure).
pub(crate) fn is_queue_full(e: &KafkaError) -> bool {
    matches!(e, KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull))
}

/// Queues `record` with `attempt` (one of librdkafka's `send` calls, which gives the
/// record back with its error when it did not queue it). While the producer's queue is
/// full, waits and tries again, until `deadline` if there is one.
#[allow(clippy::result_large_err)] // rdkafka's own `send` results, passed through
pub(crate) async fn queue_with_backoff<R, T>(
    mut record: R,
    deadline: Option<tokio::time::Instant>,
    mut attempt: impl FnMut(R) -> Result<T, (KafkaError, R)>,
) -> Result<T, (KafkaError, R)> {
    loop {
        match attempt(record) {
            Err((e, back)) if is_queue_full(&e) && deadline.is_none_or(|d| tokio::time::Instant::now() < d) => {
                record = back;
                tokio::time::sleep(QUEUE_FULL_WAIT).await;
            }
            other => return other,
        }
    }
}
