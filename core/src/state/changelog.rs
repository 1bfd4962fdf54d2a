//! A store's changelog: what each changelog record holds, and the writes a task still
//! has to send.
//!
//! Record keys start with a kind byte:
//! - `0`: a fixed window's (key, window) slot (see `window::fixed`).
//! - `1`: the task's marks ([`TaskMarks`]): stream time and the highest origin seen per
//!   input partition, so that compaction removing old records loses neither.
//! - `2`: a restore marker (see [`super::restore`]), skipped by restores.
//! - `3` and `4`: records kept by session and sliding stores, and what those stores closed
//!   (see `window::kept`).
//! - `5`: a key's custom state (see [`super::keyed`]).
//!
//! Every record also carries the task's stream time in the `kflow.stream.time` header.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ack::{Ack, OffsetTracker, TrackerHandle};
use crate::flow::Origin;
use crate::record::{Headers, Offset, Timestamp, TopicPartition};
use crate::transport::OutRecord;

/// The header holding the writer's stream time (big-endian `i64`).
pub(crate) const STREAM_TIME_HEADER: &str = "kflow.stream.time";

/// Kind byte of a fixed window's slot.
pub(crate) const SLOT: u8 = 0;
/// Kind byte of the task's marks.
pub(crate) const MARKS: u8 = 1;
/// Kind byte of a restore marker.
pub(crate) const MARKER: u8 = 2;
/// Kind byte of a key's custom state.
pub(crate) const KEYED: u8 = 5;

/// The highest origin applied (or seen), per input partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origins(Vec<Mark>);

/// One input position, as marks and kept records write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mark {
    #[serde(rename = "t")]
    topic: String,
    #[serde(rename = "p")]
    partition: i32,
    #[serde(rename = "o")]
    offset: i64,
    #[serde(rename = "i")]
    index: u32,
}

impl Origins {
    /// True if `origin` is at or below the mark of its input partition.
    pub(crate) fn covers(&self, origin: &Origin) -> bool {
        self.0
            .iter()
            .find(|m| m.partition == origin.partition && *m.topic == *origin.topic)
            .is_some_and(|m| (m.offset, m.index) >= origin.position())
    }

    /// Raises the mark of `origin`'s input partition to it.
    pub(crate) fn advance(&mut self, origin: &Origin) {
        match self
            .0
            .iter_mut()
            .find(|m| m.partition == origin.partition && *m.topic == *origin.topic)
        {
            Some(m) => {
                if (m.offset, m.index) < origin.position() {
                    (m.offset, m.index) = origin.position();
                }
            }
            None => self.0.push(Mark::from(origin)),
        }
    }

    /// Raises every mark to the higher of the two.
    pub(crate) fn merge(&mut self, other: &Origins) {
        for m in &other.0 {
            self.advance(&Origin::from(m.clone()));
        }
    }
}

impl From<&Origin> for Mark {
    fn from(o: &Origin) -> Self {
        Mark {
            topic: o.topic.to_string(),
            partition: o.partition,
            offset: o.offset,
            index: o.index,
        }
    }
}

impl From<Mark> for Origin {
    fn from(m: Mark) -> Self {
        Origin {
            topic: Arc::from(m.topic),
            partition: m.partition,
            offset: m.offset,
            index: m.index,
        }
    }
}

/// A slot's changelog value: its aggregate, the latest event time in it, where its latest
/// record came from, and the origins it reflects.
#[derive(Serialize)]
pub(crate) struct SlotValueRef<'a, A> {
    pub a: &'a A,
    pub t: Timestamp,
    pub o: &'a Origins,
}

/// [`SlotValueRef`], read back.
#[derive(Deserialize)]
pub(crate) struct SlotValue<A> {
    pub a: A,
    pub t: Timestamp,
    pub o: Origins,
}

/// The task's marks record.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct TaskMarks {
    pub stream_time: Timestamp,
    pub seen: Origins,
}

/// One task's side of a store's changelog: the writes waiting to be sent, and the results
/// whose delivery the store waits for before deleting their slots.
pub struct Changelog {
    topic: Arc<str>,
    partition: i32,
    writes: VecDeque<(OutRecord, Ack)>,
    /// Each emitted result (or, emitting every update, each slot) holds one offset here;
    /// it is released when the result was delivered (or dropped downstream).
    emissions: OffsetTracker,
    delivered: TrackerHandle,
    next_emission: i64,
    /// Writes (a deletion when the value is `None`) to queue once the emission of their
    /// number, and every one before it, was delivered.
    deferred: VecDeque<(i64, Bytes, Option<Bytes>, Ack)>,
    /// The highest origin seen per input partition (applied or not).
    pub(crate) seen: Origins,
    marks_dirty: bool,
    /// Whether the task's marks are written (stores whose entries carry their own marks
    /// need none).
    marks: bool,
}

impl Changelog {
    /// The changelog partition `partition` of `topic`.
    pub(crate) fn new(topic: &str, partition: i32) -> Self {
        let emissions = OffsetTracker::new(TopicPartition::new(format!("{topic} (emitted)"), partition));
        Changelog {
            topic: Arc::from(topic),
            partition,
            writes: VecDeque::new(),
            delivered: emissions.handle(),
            emissions,
            next_emission: 0,
            deferred: VecDeque::new(),
            seen: Origins::default(),
            marks_dirty: false,
            marks: true,
        }
    }

    /// The same, without the task's marks record.
    pub(crate) fn without_marks(mut self) -> Self {
        self.marks = false;
        self
    }

    /// A new emission: its ack, to go with the result (or be shared by the updates), and
    /// its number, for [`Changelog::delete_after`].
    pub(crate) fn emission(&mut self) -> (Ack, i64) {
        let n = self.next_emission;
        self.next_emission += 1;
        (self.emissions.track(Offset(n)), n)
    }

    fn record(&self, key: Bytes, value: Option<Bytes>, stream_time: Timestamp) -> OutRecord {
        let mut headers = Headers::new();
        headers.insert(STREAM_TIME_HEADER, Bytes::copy_from_slice(&stream_time.to_be_bytes()));
        OutRecord {
            topic: self.topic.clone(),
            partition: Some(self.partition),
            key: Some(key),
            value,
            headers,
            timestamp: None,
        }
    }

    /// Queues a slot's new value; `acks` (of the records it now reflects) are released
    /// once it is written.
    pub(crate) fn put(&mut self, key: Bytes, value: Bytes, acks: Ack, stream_time: Timestamp) {
        let record = self.record(key, Some(value), stream_time);
        self.writes.push_back((record, acks));
        self.marks_dirty = true;
    }

    /// Deletes slot `key` once emission `n` (and every one before it) was delivered.
    pub(crate) fn delete_after(&mut self, n: i64, key: Bytes) {
        self.write_after(n, key, None);
    }

    /// Writes `value` (`None`: a deletion) under `key` once emission `n` (and every one
    /// before it) was delivered; writes deferred to the same emission keep their order.
    pub(crate) fn write_after(&mut self, n: i64, key: Bytes, value: Option<Bytes>) {
        self.write_after_acked(n, key, value, Ack::none());
    }

    /// [`Changelog::write_after`], releasing `ack` once the write is acknowledged.
    pub(crate) fn write_after_acked(&mut self, n: i64, key: Bytes, value: Option<Bytes>, ack: Ack) {
        self.deferred.push_back((n, key, value, ack));
    }

    /// While writes wait for deliveries: a future that resolves when every emission so
    /// far was delivered, or after `at_most` (a flush then queues what became due).
    pub(crate) fn deliveries(&self, at_most: std::time::Duration) -> Option<futures::future::BoxFuture<'static, ()>> {
        if self.deferred.is_empty() {
            return None;
        }
        let delivered = self.delivered.clone();
        Some(Box::pin(async move {
            let deadline = tokio::time::Instant::now() + at_most;
            if delivered.is_frozen() {
                // An emission failed: nothing more becomes due (the app is stopping).
                tokio::time::sleep_until(deadline).await;
            } else {
                delivered.settled(deadline).await;
            }
        }))
    }

    /// The number of a new emission, released at once: a write deferred to it waits for
    /// every emission made so far.
    pub(crate) fn past_every_emission(&mut self) -> i64 {
        let (ack, n) = self.emission();
        drop(ack);
        n
    }

    /// A write deferred past every emission made so far.
    pub(crate) fn write_after_emitted(&mut self, key: Bytes, value: Option<Bytes>) {
        let n = self.past_every_emission();
        self.write_after(n, key, value);
    }

    /// Queues the deletions whose emissions were delivered, and the task's marks if
    /// anything was written since they last were.
    pub(crate) fn flush(&mut self, stream_time: Timestamp) {
        let delivered = self.delivered.frontier().map_or(0, |f| f.0);
        while self.deferred.front().is_some_and(|(n, _, _, _)| *n < delivered) {
            let (_, key, value, ack) = self.deferred.pop_front().expect("checked");
            let record = self.record(key, value, stream_time);
            self.writes.push_back((record, ack));
            self.marks_dirty = true;
        }
        if self.marks_dirty && self.marks {
            self.marks_dirty = false;
            let marks = TaskMarks {
                stream_time,
                seen: self.seen.clone(),
            };
            let value = serde_json::to_vec(&marks).expect("marks serialize");
            let record = self.record(Bytes::from_static(&[MARKS]), Some(Bytes::from(value)), stream_time);
            self.writes.push_back((record, Ack::none()));
        }
    }

    /// The next write to send.
    pub(crate) fn next_write(&mut self) -> Option<(OutRecord, Ack)> {
        self.writes.pop_front()
    }

    /// True while writes wait to be sent.
    pub(crate) fn has_writes(&self) -> bool {
        !self.writes.is_empty()
    }

    /// True while writes wait for deliveries.
    pub(crate) fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }
}

/// Reads the stream-time header of a changelog record.
pub(crate) fn stream_time_of(headers: &Headers) -> Option<Timestamp> {
    let b = headers.get(STREAM_TIME_HEADER)?;
    Some(i64::from_be_bytes(b.as_ref().try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(offset: i64, index: u32) -> Origin {
        Origin {
            topic: Arc::from("in"),
            partition: 0,
            offset,
            index,
        }
    }

    #[test]
    fn marks_cover_what_was_applied_only() {
        let mut o = Origins::default();
        assert!(!o.covers(&origin(0, 0)));
        o.advance(&origin(5, 1));
        assert!(o.covers(&origin(5, 0)) && o.covers(&origin(5, 1)) && o.covers(&origin(2, 9)));
        assert!(!o.covers(&origin(5, 2)) && !o.covers(&origin(6, 0)));
        o.advance(&origin(3, 0));
        assert!(!o.covers(&origin(6, 0)), "a lower origin does not lower the mark");
        let other = Origin {
            topic: Arc::from("in"),
            partition: 1,
            offset: 0,
            index: 0,
        };
        assert!(!o.covers(&other), "marks are per input partition");
    }

    #[test]
    fn deletions_wait_for_delivery() {
        let mut log = Changelog::new("c", 0);
        let (first, n0) = log.emission();
        let (second, n1) = log.emission();
        log.delete_after(n0, Bytes::from_static(b"a"));
        log.delete_after(n1, Bytes::from_static(b"b"));
        log.flush(10);
        assert!(log.next_write().is_none(), "nothing delivered, nothing written");
        drop(second);
        log.flush(10);
        assert!(log.next_write().is_none(), "the first result is still in flight");
        drop(first);
        log.flush(11);
        let keys: Vec<_> = std::iter::from_fn(|| log.next_write())
            .map(|(r, _)| (r.key, r.value))
            .collect();
        assert_eq!(keys.len(), 3, "two deletions and the marks: {keys:?}");
        assert_eq!(keys[0], (Some(Bytes::from_static(b"a")), None));
        assert_eq!(keys[1], (Some(Bytes::from_static(b"b")), None));
        assert_eq!(keys[2].0.as_deref(), Some(&[MARKS][..]));
    }
}
