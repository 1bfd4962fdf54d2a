//! `Flow<T>`: a typed pipeline of records, built from combinators.
//!
//! A flow is lazy: building it runs nothing. The runtime builds one per partition task
//! (by calling the processor function) and drives it; tests can drive a detached flow with
//! [`Flow::from_iter`] and [`Flow::collect`]. Every record carries its [`Ack`]; each
//! combinator documents what it does with it.

mod batch;
mod buffer;
mod build;
mod env;
mod filter;
mod filter_map;
mod flat_map;
mod group_by;
mod grouped;
mod inspect;
mod key_by;
mod map;
mod map_record;
mod merge;
mod origin;
mod sink;
mod then;
mod to;
mod topology;
mod with_timestamp;

use std::future::Future;
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt};
use serde::{de::DeserializeOwned, Serialize};

use batch::Batch;
pub(crate) use build::BuildCtx;
pub use build::{changelog_topic, repartition_topic};
pub(crate) use env::{StateAccess, TaskEnv};
use filter::Filter;
use filter_map::FilterMap;
use flat_map::FlatMap;
use group_by::{GroupBy, GroupByKey};
pub use grouped::Grouped;
use inspect::Inspect;
use key_by::KeyBy;
use map::Map;
use map_record::MapRecord;
use merge::Merge;
pub(crate) use origin::{origin_of, Origin, OriginCounter};
pub(crate) use sink::{poll_sending, Sink};
use then::Then;
use to::To;
pub use topology::{Node, NodeId, NodeKind, Topology};
use with_timestamp::WithTimestamp;

use crate::ack::Ack;
use crate::codec::{Encode, Json, Sent};
pub use crate::event::{Event, Msg, RawMsg};
use crate::key::GroupKey;
use crate::record::{Record, Timestamp};

/// A typed, lazy pipeline of records. See the [module docs](self) and each method.
///
/// ```
/// use kflow_core::Flow;
/// let out = Flow::from_iter(1..=6)
///     .filter(|n| n % 2 == 0)
///     .map(|n| n * 10)
///     .collect_values_blocking();
/// assert_eq!(out, vec![20, 40, 60]);
/// ```
#[must_use = "a flow does nothing until the runtime or a test drives it"]
pub struct Flow<T> {
    pub(crate) stream: BoxStream<'static, Event<T>>,
    pub(crate) build: BuildCtx,
}

impl<T: Send + 'static> Flow<T> {
    /// A flow over a stream of events, in a build.
    pub(crate) fn new(stream: impl Stream<Item = Event<T>> + Send + 'static, build: BuildCtx) -> Self {
        Flow {
            stream: stream.boxed(),
            build,
        }
    }

    /// A detached flow over plain values (timestamp 0, no key, untracked acks): for tests,
    /// examples and benchmarks.
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(values: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::from_records(values.into_iter().map(Record::new))
    }

    /// A detached flow over records (untracked acks).
    pub fn from_records<I>(records: I) -> Self
    where
        I: IntoIterator<Item = Record<T>>,
        I::IntoIter: Send + 'static,
    {
        let events = records
            .into_iter()
            .map(|record| Event::Msg(Msg::new(record, Ack::none())));
        Self::new(futures::stream::iter(events), BuildCtx::detached())
    }

    /// A detached flow over messages with their acks (for tests of ack handling).
    pub fn from_msgs<I>(msgs: I) -> Self
    where
        I: IntoIterator<Item = Msg<T>>,
        I::IntoIter: Send + 'static,
    {
        Self::new(
            futures::stream::iter(msgs.into_iter().map(Event::Msg)),
            BuildCtx::detached(),
        )
    }

    /// The underlying stream of events.
    pub fn into_stream(self) -> BoxStream<'static, Event<T>> {
        self.stream
    }

    fn wrap<U, S>(self, f: impl FnOnce(BoxStream<'static, Event<T>>, &BuildCtx) -> S) -> Flow<U>
    where
        S: Stream<Item = Event<U>> + Send + 'static,
    {
        let stream = f(self.stream, &self.build).boxed();
        Flow {
            stream,
            build: self.build,
        }
    }

    /// Keeps the records for which `f` is true. Others are dropped: their acks are
    /// released and they are counted as `filtered`.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// let out = Flow::from_iter(["a", "bb", "ccc"]).filter(|s| s.len() > 1).collect_values_blocking();
    /// assert_eq!(out, ["bb", "ccc"]);
    /// ```
    pub fn filter<F>(self, f: F) -> Flow<T>
    where
        F: FnMut(&T) -> bool + Send + 'static,
    {
        self.wrap(|s, ctx| Filter::new(s, f, ctx.env().counter(crate::telemetry::DropReason::Filtered)))
    }

    /// Transforms each value; key, headers, metadata and ack move with it.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// assert_eq!(Flow::from_iter([1, 2]).map(|n| n + 1).collect_values_blocking(), [2, 3]);
    /// ```
    pub fn map<U, F>(self, f: F) -> Flow<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> U + Send + 'static,
    {
        self.wrap(|s, _| Map::new(s, f))
    }

    /// Transforms and filters in one step: `None` drops the record (counted as `filtered`).
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// let out = Flow::from_iter(["1", "x", "3"]).filter_map(|s| s.parse::<i32>().ok()).collect_values_blocking();
    /// assert_eq!(out, [1, 3]);
    /// ```
    pub fn filter_map<U, F>(self, f: F) -> Flow<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> Option<U> + Send + 'static,
    {
        self.wrap(|s, ctx| FilterMap::new(s, f, ctx.env().counter(crate::telemetry::DropReason::Filtered)))
    }

    /// Turns each value into zero or more values. The outputs share the input's ack: its
    /// offset commits once all of them are done. Zero outputs count as `filtered`.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// let out = Flow::from_iter(["a b", "", "c"])
    ///     .flat_map(|line| line.split_whitespace().map(String::from).collect::<Vec<_>>())
    ///     .collect_values_blocking();
    /// assert_eq!(out, ["a", "b", "c"]);
    /// ```
    pub fn flat_map<U, I, F>(self, f: F) -> Flow<U>
    where
        U: Send + 'static,
        I: IntoIterator<Item = U>,
        I::IntoIter: Send + 'static,
        F: FnMut(T) -> I + Send + 'static,
    {
        self.wrap(|s, ctx| FlatMap::new(s, f, ctx.env().counter(crate::telemetry::DropReason::Filtered)))
    }

    /// Calls `f` with each value, passing the record on unchanged.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// let mut seen = 0;
    /// let out = Flow::from_iter([1, 2]).inspect(move |n| { seen += n; }).collect_values_blocking();
    /// assert_eq!(out, [1, 2]);
    /// ```
    pub fn inspect<F>(self, f: F) -> Flow<T>
    where
        F: FnMut(&T) + Send + 'static,
    {
        self.wrap(|s, _| Inspect::new(s, f))
    }

    /// Transforms whole records: key, headers and metadata are visible and can change.
    ///
    /// ```
    /// # use kflow_core::{Flow, Record};
    /// let out = Flow::from_records([Record::new(1).with_key("k")])
    ///     .map_record(|r| r.map_value(|v| v * 2).with_header("seen", "yes"))
    ///     .collect_blocking();
    /// assert_eq!(out[0].value, 2);
    /// assert_eq!(out[0].headers.get_str("seen"), Some("yes"));
    /// ```
    pub fn map_record<U, F>(self, f: F) -> Flow<U>
    where
        U: Send + 'static,
        F: FnMut(Record<T>) -> Record<U> + Send + 'static,
    {
        self.wrap(|s, _| MapRecord::new(s, f))
    }

    /// Asynchronous map: runs up to `concurrency` calls of `f` at once and emits their
    /// results in input order.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// let out = Flow::from_iter([1, 2, 3])
    ///     .then(2, |n| async move { n * 100 })
    ///     .collect_values_blocking();
    /// assert_eq!(out, [100, 200, 300]);
    /// ```
    pub fn then<U, Fut, F>(self, concurrency: usize, f: F) -> Flow<U>
    where
        U: Send + 'static,
        Fut: Future<Output = U> + Send + 'static,
        F: FnMut(T) -> Fut + Send + 'static,
    {
        self.wrap(|s, _| Then::new(s, concurrency, f))
    }

    /// Lets the pipeline before this point run ahead of the one after it, up to `n`
    /// records: the upstream stages run as their own task (on another thread of a
    /// multi-threaded runtime) while the downstream ones work, order kept. Use it between
    /// a slow stage and the work before it, e.g. `then(8, fetch).buffer(256).then(1,
    /// store)`. Records in the buffer hold their acks like any in flight. Outside a tokio
    /// runtime it only passes records on.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// let out = Flow::from_iter([1, 2, 3]).map(|n| n * 2).buffer(2).collect_values_blocking();
    /// assert_eq!(out, [2, 4, 6]);
    /// ```
    pub fn buffer(self, n: usize) -> Flow<T> {
        self.wrap(|s, _| buffer::buffered(s, n))
    }

    /// Sets each record's key (as bytes, see [`GroupKey`]) without repartitioning: the
    /// key decides the output partition when the record is written.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// let out = Flow::from_iter(["alice:1"]).key_by(|s| s.split(':').next().unwrap().to_string()).collect_blocking();
    /// assert_eq!(out[0].key.as_deref(), Some(&b"alice"[..]));
    /// ```
    pub fn key_by<K, F>(self, f: F) -> Flow<T>
    where
        K: GroupKey,
        F: FnMut(&T) -> K + Send + 'static,
    {
        self.wrap(|s, _| KeyBy::new(s, f))
    }

    /// Groups records by a key computed from the value, for windows and aggregations.
    /// When the flow runs in an app, records go through the internal repartition topic
    /// `<app>-<processor>-repartition` keyed by the new key, so each key's state lives in
    /// exactly one task; the input offset commits once the repartition write is
    /// acknowledged. Values cross that topic as JSON. A detached flow groups in place.
    pub fn group_by<K, F>(self, f: F) -> Grouped<K, T>
    where
        K: GroupKey,
        T: Serialize + DeserializeOwned,
        F: FnMut(&T) -> K + Send + 'static,
    {
        Grouped::new(self.wrap(|s, ctx| GroupBy::new(s, f, ctx.repartition(), ctx.env())))
    }

    /// Groups records by their existing key (decoded as `K`), without repartitioning:
    /// use it when the input is already partitioned by that key. A key that cannot be
    /// decoded is a deserialization error, handled by the error policy.
    pub fn group_by_key<K: GroupKey>(self) -> Grouped<K, T> {
        Grouped::new(self.wrap(|s, ctx| GroupByKey::new(s, ctx.env())))
    }

    /// Interleaves this flow with another of the same type (e.g. two inputs mapped to one
    /// event type). Order within each side is kept.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// let mut out = Flow::from_iter([1, 3]).merge(Flow::from_iter([2])).collect_values_blocking();
    /// out.sort();
    /// assert_eq!(out, [1, 2, 3]);
    /// ```
    pub fn merge(self, other: Flow<T>) -> Flow<T> {
        self.wrap(|s, _| Merge::new(s, other.stream))
    }

    /// Collects up to `size` values into one record, emitted when full or when `timeout`
    /// has passed since its first value (processing time), and at the end of the input.
    /// The batch carries the metadata of its last record and the acks of all of them.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// # use std::time::Duration;
    /// let out = Flow::from_iter(1..=5).batch(2, Duration::from_secs(1)).collect_values_blocking();
    /// assert_eq!(out, vec![vec![1, 2], vec![3, 4], vec![5]]);
    /// ```
    pub fn batch(self, size: usize, timeout: Duration) -> Flow<Vec<T>> {
        self.wrap(|s, _| Batch::new(s, size, timeout))
    }

    /// Sets event time from the value (the default is the record timestamp). Windows
    /// downstream use it, and outputs carry it as their timestamp.
    ///
    /// ```
    /// # use kflow_core::Flow;
    /// let out = Flow::from_iter([(7_i64, "a")]).with_timestamp(|(ts, _)| *ts).collect_blocking();
    /// assert_eq!(out[0].meta.timestamp, 7);
    /// ```
    pub fn with_timestamp<F>(self, f: F) -> Flow<T>
    where
        F: FnMut(&T) -> Timestamp + Send + 'static,
    {
        self.wrap(|s, _| WithTimestamp::new(s, f))
    }

    /// Writes every record to `topic` as JSON and ends this branch: the input offset
    /// commits when the write is acknowledged. A processor whose pipeline ends in `to`
    /// calls returns `Flow<Sent>` and needs no output topic.
    pub fn to(self, topic: &str) -> Flow<Sent>
    where
        T: Serialize,
    {
        self.to_with(topic, Json)
    }

    /// Like [`Flow::to`], with a codec of your choice for the value.
    pub fn to_with<C: Encode<T>>(self, topic: &str, codec: C) -> Flow<Sent> {
        self.build.add_sink(topic);
        self.wrap(|s, ctx| To::new(s, Sink::new(topic, ctx.env()), codec, ctx.env()))
    }

    /// Drives the flow to its end and returns its records, releasing their acks.
    pub async fn collect(self) -> Vec<Record<T>> {
        self.stream
            .filter_map(|e| async move {
                match e {
                    Event::Msg(m) => Some(m.record),
                    Event::Tick(_) => None,
                }
            })
            .collect()
            .await
    }

    /// [`Flow::collect`] on a fresh single-threaded tokio runtime (for tests and examples
    /// outside async code).
    pub fn collect_blocking(self) -> Vec<Record<T>> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
            .block_on(self.collect())
    }

    /// The values of [`Flow::collect_blocking`].
    pub fn collect_values_blocking(self) -> Vec<T> {
        self.collect_blocking().into_iter().map(|r| r.value).collect()
    }
}
