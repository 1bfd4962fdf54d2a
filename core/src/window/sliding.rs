use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

use super::store::{result_event, Aggregator, Entry, Inserted, WindowStore};
use super::{millis, Window, WindowKind, WindowResult, WindowValue};
use crate::ack::Ack;
use crate::event::Event;
use crate::flow::Origin;
use crate::key::GroupKey;
use crate::record::{Meta, Timestamp};

/// Windows defined by the records themselves: for each record at `t` there is a window
/// `[t - size, t]` (so `end = t + 1`) holding every record of its key in that range.
/// Records with equal timestamps share a window. Use it for "in the `size` before each
/// event" questions. Records are kept (values cloned into each window's fold) until no
/// open window can include them.
///
/// ```
/// use std::time::Duration;
/// use kflow_core::window::Sliding;
/// let w = Sliding::of(Duration::from_secs(10)).grace(Duration::from_secs(1));
/// assert_eq!(w.size_ms(), 10_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sliding {
    size: i64,
    grace: i64,
}

impl Sliding {
    /// Windows reaching `size` back from each record.
    pub fn of(size: Duration) -> Self {
        Sliding {
            size: millis(size),
            grace: 0,
        }
    }

    /// How long after a window's end records are still accepted into it.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = millis(grace);
        self
    }

    /// The size in milliseconds.
    pub fn size_ms(&self) -> i64 {
        self.size
    }
}

impl<K: GroupKey, T: Clone + Send + 'static> WindowKind<K, T> for Sliding {
    type Store<A: WindowValue> = SlidingStore<K, T>;

    fn store<A: WindowValue>(&self) -> Self::Store<A> {
        SlidingStore {
            size: self.size,
            grace: self.grace,
            keys: HashMap::new(),
            pending: BTreeMap::new(),
            seq: 0,
        }
    }

    fn name(&self) -> &'static str {
        "sliding"
    }
}

struct Kept<T> {
    value: T,
    meta: Meta,
    ack: Ack,
}

struct KeyState<T> {
    key_bytes: Option<Bytes>,
    /// Records by (timestamp, arrival).
    records: BTreeMap<(Timestamp, u64), Kept<T>>,
    /// Ends (record timestamps) of this key's open windows.
    ends: BTreeSet<Timestamp>,
}

/// State of [`Sliding`] windows.
pub struct SlidingStore<K, T> {
    size: i64,
    grace: i64,
    keys: HashMap<K, KeyState<T>>,
    /// Windows to close, by (last timestamp, creation order).
    pending: BTreeMap<(Timestamp, u64), K>,
    seq: u64,
}

impl<K: GroupKey, T: Clone> SlidingStore<K, T> {
    fn closed(&self, last: Timestamp, stream_time: Timestamp) -> bool {
        last + 1 + self.grace <= stream_time
    }

    /// The window `[last - size, last]` of `key`; its ack is `update_ack` (every-update
    /// mode) or shares of all its records' acks (final mode).
    fn emit<A>(
        &self,
        key: &K,
        last: Timestamp,
        agg: &mut Aggregator<T, A>,
        update_ack: Option<Ack>,
    ) -> Option<Event<WindowResult<K, A>>> {
        let state = self.keys.get(key)?;
        let kept: Vec<&Kept<T>> = state
            .records
            .range((last - self.size, 0)..(last + 1, 0))
            .map(|(_, k)| k)
            .collect();
        let meta = kept.last()?.meta.clone();
        let ack = update_ack.unwrap_or_else(|| Ack::merge(kept.iter().map(|k| k.ack.shared_clone()).collect()));
        let value = agg.fold_all(kept.iter().map(|k| k.value.clone()));
        let window = Window {
            start: last - self.size,
            end: last + 1,
        };
        Some(result_event(
            key.clone(),
            state.key_bytes.clone(),
            window,
            value,
            meta,
            last,
            ack,
        ))
    }
}

impl<K, T, A> WindowStore<K, T, A> for SlidingStore<K, T>
where
    K: GroupKey,
    T: Clone + Send + 'static,
    A: Send + 'static,
{
    fn insert(
        &mut self,
        entry: Entry<K, T>,
        _origin: Option<&Origin>,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> Result<Inserted, Entry<K, T>> {
        let ts = entry.meta.timestamp;
        // Late when no window that could hold it is still open.
        if self.closed(ts + self.size, stream_time) {
            return Err(entry);
        }
        let Entry {
            key,
            key_bytes,
            value,
            meta,
            mut ack,
        } = entry;
        let seq = self.seq;
        self.seq += 1;
        let own_open = !self.closed(ts, stream_time);
        let state = self.keys.entry(key.clone()).or_insert_with(|| KeyState {
            key_bytes,
            records: BTreeMap::new(),
            ends: BTreeSet::new(),
        });
        let new_window = own_open && state.ends.insert(ts);
        state.records.insert(
            (ts, seq),
            Kept {
                value,
                meta,
                ack: ack.share(),
            },
        );
        if new_window {
            self.pending.insert((ts, seq), key.clone());
        }
        if agg.snapshot.is_some() {
            let ends: Vec<Timestamp> = self.keys[&key].ends.range(ts..=ts + self.size).copied().collect();
            for end in ends {
                if !self.closed(end, stream_time) {
                    out.extend(self.emit(&key, end, agg, Some(ack.share())));
                }
            }
        }
        Ok(Inserted::Applied)
    }

    fn close(
        &mut self,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> usize {
        let grace = self.grace;
        let before = out.len();
        while let Some(entry) = self.pending.first_entry() {
            let (last, _) = *entry.key();
            if last + 1 + grace > stream_time {
                break;
            }
            let key = entry.remove();
            if agg.snapshot.is_none() {
                out.extend(self.emit(&key, last, agg, None));
            }
            if let Some(state) = self.keys.get_mut(&key) {
                state.ends.remove(&last);
            }
        }
        // Forget records no open or future window can include.
        let horizon = stream_time - self.grace - 1 - self.size;
        self.keys.retain(|_, state| {
            while let Some(first) = state.records.first_entry() {
                if first.key().0 >= horizon {
                    break;
                }
                first.remove();
            }
            !state.records.is_empty()
        });
        out.len() - before
    }
}

impl super::sealed::Sealed for Sliding {}
