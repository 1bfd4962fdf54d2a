//! The per-partition offset tracker: a sliding bitmap of offsets still held.
//!
//! The source registers each offset it hands out ([`OffsetTracker::track`]); the returned
//! [`Ack`] clears the offset's bit when it is released. The commit frontier is the lowest
//! offset whose bit is still set, or the offset after the last registered one when none is.
//!
//! Memory is a chunk of 65 536 bits (8 KiB) per 65 536 offsets between the frontier and the
//! newest offset; chunks wholly behind the frontier are freed. An ack costs one reference
//! count on its chunk and one bit: no allocation per record.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use std::collections::VecDeque;

use super::Ack;
use crate::record::{Offset, TopicPartition};

const WORD_BITS: i64 = 64;
const CHUNK_WORDS: usize = 1024;
const CHUNK_BITS: i64 = CHUNK_WORDS as i64 * WORD_BITS;
const NONE: i64 = i64::MIN;

/// A run of `CHUNK_BITS` offsets starting at `base`; bit set = offset held.
pub(crate) struct Chunk {
    base: i64,
    words: Box<[AtomicU64]>,
    core: Arc<TrackerCore>,
}

impl Chunk {
    fn new(base: i64, core: Arc<TrackerCore>) -> Self {
        Chunk {
            base,
            words: (0..CHUNK_WORDS).map(|_| AtomicU64::new(0)).collect(),
            core,
        }
    }

    fn end(&self) -> i64 {
        self.base + CHUNK_BITS
    }

    fn offset_of(&self, bit: u32) -> Offset {
        Offset(self.base + i64::from(bit))
    }

    /// Marks the offset at `bit` as no longer held.
    pub(crate) fn release(&self, bit: u32) {
        let mask = !(1u64 << (bit % 64));
        self.words[(bit / 64) as usize].fetch_and(mask, Ordering::Release);
        self.core.released();
    }

    /// The partition and offset the ack at `bit` holds.
    pub(crate) fn origin(&self, bit: u32) -> (TopicPartition, Offset) {
        (self.core.partition.clone(), self.offset_of(bit))
    }

    /// Freezes the frontier at or before the offset at `bit` and records why.
    pub(crate) fn poison(&self, bit: u32, reason: &str) {
        self.core.poison(self.offset_of(bit), reason);
    }

    /// The first held offset in `[from, to)`, if any.
    fn first_held(&self, from: i64, to: i64) -> Option<i64> {
        let to = to.min(self.end());
        let mut pos = from.max(self.base);
        while pos < to {
            let rel = pos - self.base;
            let word = self.words[(rel / WORD_BITS) as usize].load(Ordering::Acquire);
            let masked = word & (u64::MAX << (rel % WORD_BITS));
            if masked != 0 {
                let found = self.base + (rel / WORD_BITS) * WORD_BITS + i64::from(masked.trailing_zeros());
                return (found < to).then_some(found);
            }
            pos = self.base + (rel / WORD_BITS + 1) * WORD_BITS;
        }
        None
    }
}

struct ScanState {
    chunks: VecDeque<Arc<Chunk>>,
    /// Every offset below this is released (or was never registered).
    scanned: i64,
    failure: Option<String>,
}

/// The shared half of a tracker: read by the committer, written by releases.
pub(crate) struct TrackerCore {
    partition: TopicPartition,
    /// The offset after the newest registered one; `NONE` before the first.
    high: AtomicI64,
    /// Once set (not `NONE`), the frontier no longer moves.
    frozen: AtomicI64,
    state: Mutex<ScanState>,
    /// How many wait in [`TrackerHandle::settled`]; releases notify them only then.
    waiters: AtomicUsize,
    changed: Notify,
}

impl TrackerCore {
    /// An offset was released or the tracker froze: wakes whoever waits for it to settle
    /// (one relaxed load otherwise).
    fn released(&self) {
        if self.waiters.load(Ordering::Relaxed) > 0 {
            self.changed.notify_waiters();
        }
    }

    fn lock(&self) -> MutexGuard<'_, ScanState> {
        // A panic while holding this lock leaves the state consistent (only whole-field
        // writes happen under it), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn scan(&self, state: &mut ScanState) -> Option<Offset> {
        let high = self.high.load(Ordering::Acquire);
        if high == NONE {
            return None;
        }
        let mut pos = state.scanned;
        while let Some(chunk) = state.chunks.front().cloned() {
            if let Some(held) = chunk.first_held(pos, high) {
                pos = held;
                state.scanned = pos;
                return Some(Offset(pos));
            }
            if high < chunk.end() {
                break;
            }
            // Wholly released and never written again: free it.
            pos = pos.max(chunk.end());
            state.chunks.pop_front();
        }
        state.scanned = high;
        Some(Offset(high))
    }

    fn frontier(&self) -> Option<Offset> {
        let frozen = self.frozen.load(Ordering::Acquire);
        if frozen != NONE {
            return Some(Offset(frozen));
        }
        let mut state = self.lock();
        // Re-check under the lock: a seal may have happened meanwhile.
        let frozen = self.frozen.load(Ordering::Acquire);
        if frozen != NONE {
            return Some(Offset(frozen));
        }
        self.scan(&mut state)
    }

    fn freeze(&self, state: &mut ScanState, cap: Option<Offset>) -> Option<Offset> {
        let frozen = self.frozen.load(Ordering::Acquire);
        if frozen != NONE {
            let frozen = cap.map_or(frozen, |c| frozen.min(c.0));
            self.frozen.store(frozen, Ordering::Release);
            return Some(Offset(frozen));
        }
        let scanned = self.scan(state);
        let value = match (scanned, cap) {
            (Some(s), Some(c)) => Some(s.min(c)),
            (s, c) => s.or(c),
        };
        if let Some(v) = value {
            self.frozen.store(v.0, Ordering::Release);
        }
        value
    }

    fn poison(&self, offset: Offset, reason: &str) {
        let mut state = self.lock();
        if state.failure.is_none() {
            state.failure = Some(format!("offset {offset} of {}: {reason}", self.partition));
        }
        self.freeze(&mut state, Some(offset));
        drop(state);
        self.released();
    }
}

/// The source side of a partition's tracker: registers offsets in increasing order.
///
/// ```
/// use kflow_core::ack::OffsetTracker;
/// use kflow_core::{Offset, TopicPartition};
///
/// let mut tracker = OffsetTracker::new(TopicPartition::new("orders", 0));
/// let handle = tracker.handle();
/// let a = tracker.track(Offset(10));
/// let b = tracker.track(Offset(11));
/// assert_eq!(handle.frontier(), Some(Offset(10))); // 10 is still held
/// drop(b);
/// assert_eq!(handle.frontier(), Some(Offset(10))); // 11 done, but 10 is not
/// drop(a);
/// assert_eq!(handle.frontier(), Some(Offset(12))); // everything done: commit 12
/// ```
pub struct OffsetTracker {
    core: Arc<TrackerCore>,
    current: Option<Arc<Chunk>>,
}

impl OffsetTracker {
    /// A tracker for one partition, with nothing registered yet.
    pub fn new(partition: TopicPartition) -> Self {
        OffsetTracker {
            core: Arc::new(TrackerCore {
                partition,
                high: AtomicI64::new(NONE),
                frozen: AtomicI64::new(NONE),
                state: Mutex::new(ScanState {
                    chunks: VecDeque::new(),
                    scanned: NONE,
                    failure: None,
                }),
                waiters: AtomicUsize::new(0),
                changed: Notify::new(),
            }),
            current: None,
        }
    }

    /// The handle the committer reads the frontier from.
    pub fn handle(&self) -> TrackerHandle {
        TrackerHandle(self.core.clone())
    }

    /// Registers `offset` as held and returns its ack. Offsets must be registered in
    /// strictly increasing order; offsets skipped over (compaction, transaction markers)
    /// count as done.
    ///
    /// # Panics
    /// If `offset` is not greater than the last registered offset: that is a bug in the
    /// source, and committing past it could lose records.
    pub fn track(&mut self, offset: Offset) -> Ack {
        let off = offset.0;
        let high = self.core.high.load(Ordering::Relaxed);
        assert!(
            high == NONE || off >= high,
            "offset {off} registered after {} on {}",
            high - 1,
            self.core.partition
        );
        let base = off.div_euclid(CHUNK_BITS) * CHUNK_BITS;
        let chunk = match &self.current {
            Some(c) if c.base == base => c.clone(),
            _ => {
                let chunk = Arc::new(Chunk::new(base, self.core.clone()));
                let mut state = self.core.lock();
                if state.scanned == NONE {
                    state.scanned = off;
                }
                state.chunks.push_back(chunk.clone());
                drop(state);
                self.current = Some(chunk.clone());
                chunk
            }
        };
        let bit = (off - base) as u32;
        chunk.words[(bit / 64) as usize].fetch_or(1u64 << (bit % 64), Ordering::Relaxed);
        self.core.high.store(off + 1, Ordering::Release);
        Ack::from_bit(chunk, bit)
    }
}

/// The committer's view of a partition's tracker. Cheap to clone.
#[derive(Clone)]
pub struct TrackerHandle(Arc<TrackerCore>);

impl TrackerHandle {
    /// The partition tracked.
    pub fn partition(&self) -> &TopicPartition {
        &self.0.partition
    }

    /// The commit frontier: the lowest offset still held, or the offset after the newest
    /// registered one when none is held. `None` before anything was registered. Never
    /// decreases; frozen once the tracker is sealed or failed.
    pub fn frontier(&self) -> Option<Offset> {
        self.0.frontier()
    }

    /// Freezes the frontier where it is now and returns it. Acks released afterwards no
    /// longer move it: call this before dropping work whose acks must not count as done
    /// (revocation, shutdown, a task that panicked).
    pub fn seal(&self) -> Option<Offset> {
        let mut state = self.0.lock();
        self.0.freeze(&mut state, None)
    }

    /// Why this partition stopped, if an ack failed or was dropped during a panic.
    pub fn failure(&self) -> Option<String> {
        self.0.lock().failure.clone()
    }

    /// The offset after the newest registered one (`None` before the first): with the
    /// frontier, how many records are in flight.
    pub fn read_end(&self) -> Option<Offset> {
        let high = self.0.high.load(Ordering::Acquire);
        (high != NONE).then_some(Offset(high))
    }

    /// True once sealed or failed.
    pub fn is_frozen(&self) -> bool {
        self.0.frozen.load(Ordering::Acquire) != NONE
    }

    /// True when no registered offset is still held (or the tracker is frozen).
    pub fn is_settled(&self) -> bool {
        self.is_frozen()
            || matches!((self.read_end(), self.frontier()), (Some(end), Some(f)) if f >= end)
            || self.read_end().is_none()
    }

    /// Waits until the tracker [is settled](TrackerHandle::is_settled), woken by
    /// releases (no polling), or until `deadline`; true if it settled.
    ///
    /// ```
    /// use kflow_core::ack::OffsetTracker;
    /// use kflow_core::{Offset, TopicPartition};
    /// let mut tracker = OffsetTracker::new(TopicPartition::new("t", 0));
    /// let handle = tracker.handle();
    /// let ack = tracker.track(Offset(0));
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// rt.block_on(async {
    ///     let soon = tokio::time::Instant::now() + std::time::Duration::from_millis(10);
    ///     assert!(!handle.settled(soon).await, "offset 0 is held");
    ///     tokio::spawn(async move { drop(ack) });
    ///     let later = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    ///     assert!(handle.settled(later).await);
    /// });
    /// ```
    pub async fn settled(&self, deadline: tokio::time::Instant) -> bool {
        let core = &self.0;
        core.waiters.fetch_add(1, Ordering::SeqCst);
        let settled = loop {
            let changed = core.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_settled() {
                break true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break self.is_settled();
            }
        };
        core.waiters.fetch_sub(1, Ordering::SeqCst);
        settled
    }
}

impl std::fmt::Debug for TrackerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackerHandle")
            .field("partition", &self.0.partition)
            .field("frontier", &self.frontier())
            .finish()
    }
}
