//! Records as they travel through kflow: key bytes, a typed value, headers and metadata.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{Decode, DecodeError};

/// A partition number within a topic.
///
/// ```
/// use kflow_core::Partition;
/// let p = Partition(3);
/// assert_eq!(p.0, 3);
/// assert_eq!(p.to_string(), "3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Partition(pub i32);

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An offset within a partition. A committed offset is the offset of the *next* record to
/// read, as in Kafka.
///
/// ```
/// use kflow_core::Offset;
/// assert_eq!(Offset(41).next(), Offset(42));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(pub i64);

impl Offset {
    /// The offset after this one.
    pub fn next(self) -> Offset {
        Offset(self.0 + 1)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A topic name and a partition number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: Partition,
}

impl TopicPartition {
    /// Builds a topic-partition pair.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition: Partition(partition),
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Milliseconds since the Unix epoch: the unit of Kafka record timestamps and of event time.
pub type Timestamp = i64;

/// Where a record's timestamp came from, as Kafka reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// The producer set it (`CreateTime`).
    #[default]
    CreateTime,
    /// The broker set it when appending (`LogAppendTime`).
    LogAppendTime,
    /// No timestamp was available.
    NotAvailable,
}

/// Where a record was read from: topic, partition, offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The topic the record was read from.
    pub topic: Arc<str>,
    /// Its partition.
    pub partition: Partition,
    /// Its offset in that partition.
    pub offset: Offset,
    /// Its timestamp (milliseconds since the epoch); event time unless re-stamped.
    pub timestamp: Timestamp,
    /// Where the timestamp came from.
    pub timestamp_type: TimestampType,
}

impl Meta {
    /// Metadata for a record that was not read from a topic (for example one built in a test).
    pub fn detached(timestamp: Timestamp) -> Self {
        Meta {
            topic: Arc::from(""),
            partition: Partition(0),
            offset: Offset(-1),
            timestamp,
            timestamp_type: TimestampType::CreateTime,
        }
    }
}

/// Record headers: an ordered list of name / optional value pairs (names may repeat, as in
/// Kafka).
///
/// Names and values are bytes. Kafka's protocol calls header names strings but no broker
/// checks that they are UTF-8, so a record whose header name is not valid UTF-8 is kept
/// as it came (nothing is lost, and a dead letter or a replay writes the same bytes back);
/// [`Headers::get_str`] and [`Headers::iter_lossy`] give text views.
///
/// ```
/// use kflow_core::Headers;
/// let mut h = Headers::new();
/// h.insert("trace-id", "abc");
/// h.insert(&b"\xff-raw"[..], &b"\x00\x01"[..]);
/// assert_eq!(h.get_str("trace-id"), Some("abc"));
/// assert_eq!(h.get(&b"\xff-raw"[..]).map(|v| &v[..]), Some(&b"\x00\x01"[..]));
/// assert_eq!(h.get("missing"), None);
/// let names: Vec<String> = h.iter_lossy().map(|(n, _)| n.into_owned()).collect();
/// assert_eq!(names, ["trace-id", "\u{fffd}-raw"]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(Bytes, Option<Bytes>)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Appends a header. The name is text (`&str`, `String`) or bytes (`&[u8]`, `Vec<u8>`,
    /// `Bytes`).
    pub fn insert(&mut self, name: impl AsRef<[u8]>, value: impl Into<Bytes>) {
        self.0.push((Bytes::copy_from_slice(name.as_ref()), Some(value.into())));
    }

    /// Appends a header with a null value.
    pub fn insert_null(&mut self, name: impl AsRef<[u8]>) {
        self.0.push((Bytes::copy_from_slice(name.as_ref()), None));
    }

    /// Appends a header whose name is already [`Bytes`] (no copy).
    pub fn push(&mut self, name: Bytes, value: Option<Bytes>) {
        self.0.push((name, value));
    }

    /// The value of the last header with this name (`None` if absent or null).
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&Bytes> {
        let name = name.as_ref();
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n.as_ref() == name)
            .and_then(|(_, v)| v.as_ref())
    }

    /// The value of the last header with this name, if it is valid UTF-8.
    pub fn get_str(&self, name: impl AsRef<[u8]>) -> Option<&str> {
        self.get(name).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// All headers in order: name bytes and value.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&Bytes>)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// All headers in order with names as text (bytes that are not UTF-8 become U+FFFD),
    /// for display.
    pub fn iter_lossy(&self) -> impl Iterator<Item = (std::borrow::Cow<'_, str>, Option<&Bytes>)> {
        self.0.iter().map(|(n, v)| (String::from_utf8_lossy(n), v.as_ref()))
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps the headers for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], Option<&Bytes>) -> bool) {
        self.0.retain(|(n, v)| keep(n, v.as_ref()));
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(n, v)| (String::from_utf8_lossy(n), v)))
            .finish()
    }
}

/// A record with a typed value: key bytes, value, headers and where it came from.
///
/// ```
/// use kflow_core::{Record, codec::Utf8};
/// let r = Record::new(5).with_key("user-1").with_timestamp(1_000);
/// assert_eq!(r.value, 5);
/// assert_eq!(r.key_as(&Utf8).unwrap(), "user-1");
/// assert_eq!(r.meta.timestamp, 1_000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    /// The key as bytes (`None` for a null key). Typed access: [`Record::key_as`].
    pub key: Option<Bytes>,
    /// The value.
    pub value: T,
    /// The headers.
    pub headers: Headers,
    /// Topic, partition, offset and timestamp.
    pub meta: Meta,
}

impl<T> Record<T> {
    /// A record with no key, no headers and a detached [`Meta`] at timestamp 0.
    pub fn new(value: T) -> Self {
        Record {
            key: None,
            value,
            headers: Headers::new(),
            meta: Meta::detached(0),
        }
    }

    /// Sets the key bytes.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the timestamp.
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.meta.timestamp = timestamp;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl AsRef<[u8]>, value: impl Into<Bytes>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Decodes the key with a codec, e.g. [`crate::codec::Utf8`] or [`crate::codec::Json`].
    pub fn key_as<K>(&self, codec: &impl Decode<K>) -> Result<K, DecodeError> {
        codec.decode(self.key.as_deref())
    }

    /// Separates the value from the rest of the record (key, headers, metadata), e.g. to
    /// build outputs from the same input with [`Record::map_value`].
    ///
    /// ```
    /// use kflow_core::Record;
    /// let (value, rest) = Record::new("a b").with_key("k").split();
    /// let first = rest.clone().map_value(|()| value.len());
    /// assert_eq!((first.value, first.key.as_deref()), (3, Some(&b"k"[..])));
    /// ```
    pub fn split(self) -> (T, Record<()>) {
        let rest = Record {
            key: self.key,
            value: (),
            headers: self.headers,
            meta: self.meta,
        };
        (self.value, rest)
    }

    /// Replaces the value, keeping key, headers and metadata.
    pub fn map_value<U>(self, f: impl FnOnce(T) -> U) -> Record<U> {
        Record {
            key: self.key,
            value: f(self.value),
            headers: self.headers,
            meta: self.meta,
        }
    }
}

/// A record as read from a transport: bytes for key and value, before decoding.
pub type RawRecord = Record<Option<Bytes>>;
