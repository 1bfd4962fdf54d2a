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

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ack::{Ack, OffsetTracker, TrackerHandle};
use crate::flow::Origin;
use crate::record::{Headers, Offset, Timestamp, TopicPartition};
use crate::transport::{OutRecord, Producer};

use super::disk::{Checkpoint, Disk};

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
    /// The highest stream time written.
    stream_time: Timestamp,
    /// The on-disk backend, if the store keeps one.
    disk: Option<DiskLog>,
}

/// How often an on-disk store checkpoints (at-least-once only).
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);

/// A store's on-disk side (see [`super::disk`]): the writes sent but not yet applied,
/// and the checkpoints.
pub(crate) struct DiskLog {
    disk: Arc<Disk>,
    /// Checkpoint markers go through it (outside any transaction).
    markers: Arc<dyn Producer>,
    /// False under exactly-once: a checkpoint could hold writes of a transaction that
    /// aborts later (see `Restoring::start`).
    checkpoints: bool,
    /// One offset per write sent, released when it is acknowledged.
    written: OffsetTracker,
    acked: TrackerHandle,
    next_seq: i64,
    sent: VecDeque<(i64, Bytes, Option<Bytes>)>,
    /// Store keys with a write not yet applied (queued, deferred or sent): a store must
    /// not drop them from memory, the database does not have their value yet.
    pending: HashMap<Bytes, usize>,
    last_checkpoint: tokio::time::Instant,
    checkpointing: Option<BoxFuture<'static, Result<(), String>>>,
    cache: usize,
    /// At the end of input: the final checkpoint was started (it is taken once).
    final_started: bool,
    /// At the end of input: waiting for the last acknowledgements.
    finishing: Option<BoxFuture<'static, ()>>,
}

/// What a restore hands the store to go on with its database.
pub(crate) struct DiskAttach {
    pub disk: Arc<Disk>,
    pub markers: Arc<dyn Producer>,
    pub checkpoints: bool,
    /// How many entries the store keeps in memory.
    pub cache: usize,
}

impl DiskLog {
    fn new(a: DiskAttach, topic: &str, partition: i32) -> Self {
        let written = OffsetTracker::new(TopicPartition::new(format!("{topic} (applied)"), partition));
        DiskLog {
            disk: a.disk,
            markers: a.markers,
            checkpoints: a.checkpoints,
            acked: written.handle(),
            written,
            next_seq: 0,
            sent: VecDeque::new(),
            pending: HashMap::new(),
            last_checkpoint: tokio::time::Instant::now(),
            checkpointing: None,
            cache: a.cache,
            final_started: false,
            finishing: None,
        }
    }

    fn pend(&mut self, key: &Bytes) {
        *self.pending.entry(key.clone()).or_insert(0) += 1;
    }
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
            stream_time: Timestamp::MIN,
            disk: None,
        }
    }

    /// Keeps the store's state on disk from now on (a restore hands the database over).
    pub(crate) fn attach_disk(&mut self, attach: Option<DiskAttach>) {
        if let Some(a) = attach {
            self.disk = Some(DiskLog::new(a, &self.topic, self.partition));
        }
    }

    /// The store's database, if it keeps one.
    pub(crate) fn disk(&self) -> Option<&Disk> {
        self.disk.as_ref().map(|d| &*d.disk)
    }

    /// With a database: how many entries the store keeps in memory.
    pub(crate) fn cache(&self) -> Option<usize> {
        self.disk.as_ref().map(|d| d.cache)
    }

    /// True while `key` has a write the database does not reflect yet.
    pub(crate) fn is_pending(&self, key: &[u8]) -> bool {
        self.disk.as_ref().is_some_and(|d| d.pending.contains_key(key))
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

    fn record(&mut self, key: Bytes, value: Option<Bytes>, stream_time: Timestamp) -> OutRecord {
        self.stream_time = self.stream_time.max(stream_time);
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
        if let Some(d) = self.disk.as_mut() {
            d.pend(&key);
        }
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
        if let Some(d) = self.disk.as_mut() {
            d.pend(&key);
        }
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

    /// The next write to send (none while a checkpoint is taken: every write sent before
    /// its marker must be below it, every later one above).
    pub(crate) fn next_write(&mut self) -> Option<(OutRecord, Ack)> {
        if self.disk.as_ref().is_some_and(|d| d.checkpointing.is_some()) {
            return None;
        }
        let (record, ack) = self.writes.pop_front()?;
        let Some(d) = self.disk.as_mut() else {
            return Some((record, ack));
        };
        let seq = d.next_seq;
        d.next_seq += 1;
        let key = record.key.clone().unwrap_or_default();
        d.sent.push_back((seq, key, record.value.clone()));
        let applied = d.written.track(Offset(seq));
        Some((record, Ack::merge(vec![ack, applied])))
    }

    /// Applies the acknowledged writes to the database, in the order they were sent, and
    /// starts a checkpoint when one is due (every [`CHECKPOINT_INTERVAL`], at-least-once
    /// only, when nothing is in flight).
    pub(crate) fn apply_acked(&mut self) -> Result<(), String> {
        let Some(d) = self.disk.as_mut() else {
            return Ok(());
        };
        let frontier = d.acked.frontier().map_or(0, |f| f.0);
        let mut batch = Vec::new();
        while d.sent.front().is_some_and(|(seq, _, _)| *seq < frontier) {
            let (_, key, value) = d.sent.pop_front().expect("checked");
            if let Some(n) = d.pending.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    d.pending.remove(&key);
                }
            }
            batch.push((key, value));
        }
        d.disk.apply(&batch, None)?;
        let due = d.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL;
        if due && d.checkpoints && d.checkpointing.is_none() && d.sent.is_empty() && self.writes.is_empty() {
            self.start_checkpoint(false);
        }
        Ok(())
    }

    /// Writes a checkpoint marker, then records its offset in the database. The final
    /// one (at the end of the task's input) is logged: the next owner restores from it.
    fn start_checkpoint(&mut self, last: bool) {
        let (topic, partition, stream_time) = (self.topic.clone(), self.partition, self.stream_time);
        let Some(d) = self.disk.as_mut() else { return };
        let marker = OutRecord {
            topic: topic.clone(),
            partition: Some(partition),
            key: Some(Bytes::from_static(&[MARKER])),
            value: Some(Bytes::from_static(b"checkpoint")),
            headers: Headers::new(),
            timestamp: None,
        };
        let (disk, markers) = (d.disk.clone(), d.markers.clone());
        d.checkpointing = Some(
            async move {
                let at = markers
                    .send_reporting(marker)
                    .await
                    .map_err(|e| format!("a checkpoint marker could not be written to {topic}: {e}"))?;
                let stream_time = (stream_time != Timestamp::MIN).then_some(stream_time);
                let checkpoint = Checkpoint {
                    from: at.0,
                    stream_time,
                };
                // A durable commit waits for the disk: off the task's thread.
                tokio::task::spawn_blocking(move || disk.apply(&[], Some(checkpoint)))
                    .await
                    .map_err(|e| format!("a checkpoint of {topic} did not finish: {e}"))??;
                if last {
                    tracing::info!(changelog = %topic, partition, from = at.0, "final checkpoint taken");
                }
                Ok(())
            }
            .boxed(),
        );
    }

    /// Drives a checkpoint under way; ready (with its outcome) when none is.
    pub(crate) fn poll_checkpoint(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        let Some(d) = self.disk.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let Some(running) = d.checkpointing.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let done = std::task::ready!(running.as_mut().poll(cx));
        d.checkpointing = None;
        d.last_checkpoint = tokio::time::Instant::now();
        Poll::Ready(done)
    }

    /// At the end of input, once every write was queued: waits for their
    /// acknowledgements, applies them and (at-least-once) checkpoints, so that the next
    /// owner restores from here. Ready at once without a database.
    pub(crate) fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        if self.disk.as_ref().is_some_and(|d| d.final_started) {
            // Taken once: ready when it is done (and from then on).
            return self.poll_checkpoint(cx);
        }
        std::task::ready!(self.poll_checkpoint(cx))?;
        let Some(d) = self.disk.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        if !d.sent.is_empty() {
            let acked = d.acked.clone();
            let waiting = d.finishing.get_or_insert_with(|| {
                async move {
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                    acked.settled(deadline).await;
                }
                .boxed()
            });
            std::task::ready!(waiting.as_mut().poll(cx));
            d.finishing = None;
            self.apply_acked()?;
            let d = self.disk.as_mut().expect("checked");
            if !d.sent.is_empty() {
                // Not acknowledged in time (or failed): no checkpoint past them.
                tracing::warn!(
                    changelog = %self.topic,
                    partition = self.partition,
                    unacknowledged = d.sent.len(),
                    "no final checkpoint: changelog writes were not acknowledged within 30 s; the next owner restores from the last checkpoint"
                );
                return Poll::Ready(Ok(()));
            }
        }
        let d = self.disk.as_mut().expect("checked");
        if !d.checkpoints || !self.writes.is_empty() {
            return Poll::Ready(Ok(()));
        }
        d.final_started = true;
        self.start_checkpoint(true);
        self.poll_checkpoint(cx)
    }

    /// True while writes wait to be sent (and may be: not while a checkpoint holds them).
    pub(crate) fn has_writes(&self) -> bool {
        !self.writes.is_empty() && self.disk.as_ref().is_none_or(|d| d.checkpointing.is_none())
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
