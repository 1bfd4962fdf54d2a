//! What a typed producer sends, and what the broker says about it.

use bytes::Bytes;
use kflow_core::{Headers, Timestamp};

/// One record for a [`crate::TypedProducer`]: topic, value (or a tombstone), and optionally
/// a key, headers, a timestamp and an explicit partition.
///
/// ```
/// use kflow_kafka::ProduceRecord;
/// let r = ProduceRecord::new("orders", 42u32)
///     .key("customer-7".to_string())
///     .header("source", "checkout")
///     .timestamp(1_700_000_000_000)
///     .partition(2);
/// assert_eq!(r.topic(), "orders");
/// let tombstone: ProduceRecord<String, u32> = ProduceRecord::tombstone("orders", "customer-7".to_string());
/// assert!(tombstone.value().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct ProduceRecord<K, V> {
    pub(crate) topic: String,
    pub(crate) key: Option<K>,
    pub(crate) value: Option<V>,
    pub(crate) headers: Headers,
    pub(crate) timestamp: Option<Timestamp>,
    pub(crate) partition: Option<i32>,
}

impl<K, V> ProduceRecord<K, V> {
    /// A record with a value and nothing else.
    pub fn new(topic: impl Into<String>, value: V) -> Self {
        ProduceRecord {
            topic: topic.into(),
            key: None,
            value: Some(value),
            headers: Headers::new(),
            timestamp: None,
            partition: None,
        }
    }

    /// A tombstone: a key with a null value (deletes the key from a compacted topic).
    pub fn tombstone(topic: impl Into<String>, key: K) -> Self {
        ProduceRecord {
            topic: topic.into(),
            key: Some(key),
            value: None,
            headers: Headers::new(),
            timestamp: None,
            partition: None,
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: K) -> Self {
        self.key = Some(key);
        self
    }

    /// Appends a header.
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl Into<Bytes>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Appends every header of `headers`.
    pub fn headers(mut self, headers: &Headers) -> Self {
        for (name, value) in headers.iter() {
            self.headers.push(Bytes::copy_from_slice(name), value.cloned());
        }
        self
    }

    /// Sets the record timestamp (milliseconds since the epoch; default: now).
    pub fn timestamp(mut self, ms: Timestamp) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// Sends to this partition, whatever the producer's [`crate::Partitioning`].
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The value (`None` for a tombstone).
    pub fn value(&self) -> Option<&V> {
        self.value.as_ref()
    }
}

/// Where the broker stored a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset (`-1` when the producer does not wait for acknowledgements).
    pub offset: i64,
    /// The record's timestamp, when the broker reported it.
    pub timestamp: Option<Timestamp>,
}
