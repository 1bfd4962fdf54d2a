use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

use super::kept::{closed_key, parse_key, KeptEntry, KeptKey, KeptLog, KeptSide, KeptValue};
use super::store::{result_event, Aggregator, Entry, Inserted, WindowStore};
use super::{millis, Window, WindowKind, WindowResult, WindowValue};
use crate::ack::Ack;
use crate::event::Event;
use crate::flow::Origin;
use crate::key::GroupKey;
use crate::record::{Meta, Timestamp};
use crate::state::changelog::Changelog;
use crate::state::restore::Restored;

/// Windows defined by the records themselves: for each record at `t` there is a window
/// `[t - size, t]` (so `end = t + 1`) holding every record of its key in that range.
/// Records with equal timestamps share a window. Use it for "in the `size` before each
/// event" questions. Records are kept (values cloned into each window's fold) until no
/// open window can include them: memory (and the changelog) hold about `size + grace` of
/// event time of records per key. With a changelog, each record is written as it arrives
/// and deleted once the windows that used it were delivered.
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

impl<K: GroupKey, T: WindowValue + Clone> WindowKind<K, T> for Sliding {
    type Store<A: WindowValue> = SlidingStore<K, T>;

    fn store<A: WindowValue>(&self) -> Self::Store<A> {
        SlidingStore {
            size: self.size,
            grace: self.grace,
            keys: HashMap::new(),
            pending: BTreeMap::new(),
            seq: 0,
            side: KeptSide::default(),
        }
    }

    fn name(&self) -> &'static str {
        "sliding"
    }
}

struct Kept<T> {
    value: T,
    meta: Meta,
    /// Without a changelog: a share of the record's ack, held while windows may use it.
    ack: Ack,
    /// Changelog only: where it is written.
    entry: Option<KeptEntry>,
}

struct KeyState<T> {
    key_bytes: Option<Bytes>,
    /// The key's bytes in changelog keys.
    log_key: Bytes,
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
    side: KeptSide,
}

impl<K: GroupKey, T: Clone> SlidingStore<K, T> {
    fn closed(&self, last: Timestamp, stream_time: Timestamp) -> bool {
        last + 1 + self.grace <= stream_time
    }

    /// The window `[last - size, last]` of `key`; its ack is `ack`, or (without one) shares
    /// of all its records' acks.
    fn emit<A>(
        &self,
        key: &K,
        last: Timestamp,
        agg: &mut Aggregator<T, A>,
        ack: Option<Ack>,
    ) -> Option<Event<WindowResult<K, A>>> {
        let state = self.keys.get(key)?;
        let kept: Vec<&Kept<T>> = state
            .records
            .range((last - self.size, 0)..(last + 1, 0))
            .map(|(_, k)| k)
            .collect();
        let meta = kept.last()?.meta.clone();
        let ack = ack.unwrap_or_else(|| Ack::merge(kept.iter().map(|k| k.ack.shared_clone()).collect()));
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
    T: WindowValue + Clone,
    A: Send + 'static,
{
    fn insert(
        &mut self,
        entry: Entry<K, T>,
        origin: Option<&Origin>,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> Result<Inserted, Entry<K, T>> {
        if self.side.kept.as_ref().is_some_and(|k| k.is_duplicate(origin)) {
            drop(entry.ack);
            return Ok(Inserted::Duplicate);
        }
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
            log_key: key_bytes.clone().unwrap_or_else(|| key.to_key_bytes()),
            key_bytes,
            records: BTreeMap::new(),
            ends: BTreeSet::new(),
        });
        let (held, written) = match self.side.kept.as_mut() {
            Some(kept) => match kept.keep(
                &state.log_key,
                ts,
                seq,
                &value,
                origin,
                own_open,
                ack.share(),
                stream_time,
            ) {
                Ok(e) => (Ack::none(), Some(e)),
                Err(reason) => {
                    // Not applied: its ack is held (never committed) until the app stops.
                    self.side.failed(reason, ack);
                    if state.records.is_empty() {
                        self.keys.remove(&key);
                    }
                    return Ok(Inserted::Applied);
                }
            },
            None => (ack.share(), None),
        };
        let new_window = own_open && state.ends.insert(ts);
        state.records.insert(
            (ts, seq),
            Kept {
                value,
                meta,
                ack: held,
                entry: written,
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
                // With a changelog: the result's delivery is recorded as the key's newest
                // delivered window, so a restore does not emit it again.
                let ack = match (self.side.kept.as_mut(), self.keys.get(&key)) {
                    (Some(kept), Some(state)) => {
                        let (ack, n) = kept.log.emission();
                        let done = Bytes::copy_from_slice(&last.to_be_bytes());
                        kept.log.write_after(n, closed_key(&state.log_key, None), Some(done));
                        Some(ack)
                    }
                    _ => None,
                };
                out.extend(self.emit(&key, last, agg, ack));
            }
            if let Some(state) = self.keys.get_mut(&key) {
                state.ends.remove(&last);
            }
        }
        // Forget records no open or future window can include.
        let horizon = stream_time.saturating_sub(self.grace + 1 + self.size);
        let mut kept = self.side.kept.as_mut();
        self.keys.retain(|_, state| {
            while let Some(first) = state.records.first_entry() {
                if first.key().0 >= horizon {
                    break;
                }
                let gone = first.remove();
                if let (Some(kept), Some(entry)) = (kept.as_deref_mut(), gone.entry) {
                    kept.forget(entry);
                }
            }
            let empty = state.records.is_empty();
            if empty {
                if let Some(kept) = kept.as_deref_mut() {
                    kept.log.write_after_emitted(closed_key(&state.log_key, None), None);
                }
            }
            !empty
        });
        out.len() - before
    }

    fn attach(&mut self, log: Changelog) -> bool {
        self.side.attach(log)
    }

    fn changelog(&mut self) -> Option<&mut Changelog> {
        self.side.changelog()
    }

    fn dirty(&self) -> usize {
        self.side.dirty()
    }

    fn flush(&mut self, stream_time: Timestamp) -> Result<(), String> {
        self.side.flush(stream_time)
    }

    fn restore(
        &mut self,
        restored: Restored,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> Result<usize, String> {
        let Some(mut kept) = self.side.kept.take() else {
            return Ok(0);
        };
        let result = self.restore_into(&mut kept, restored, agg, out);
        self.side.kept = Some(kept);
        result
    }
}

/// A key's restored state: its records, the records that opened windows, and the end of
/// its newest delivered window.
type Found<T> = (KeyState<T>, Vec<(Timestamp, u64)>, Option<Timestamp>);

impl<K: GroupKey, T: WindowValue + Clone> SlidingStore<K, T> {
    /// [`WindowStore::restore`], with the changelog taken out of the store meanwhile.
    fn restore_into<A>(
        &mut self,
        kept: &mut KeptLog,
        restored: Restored,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> Result<usize, String> {
        let stream_time = restored.stream_time.unwrap_or(Timestamp::MIN);
        // Per key: its state, the records that opened windows, the newest delivered window.
        let mut by_key: HashMap<K, Found<T>> = HashMap::new();
        let mut next_seq = 0;
        for (ckey, value) in restored.entries {
            let parsed = parse_key(&ckey).ok_or_else(|| format!("changelog key {ckey:?} is not a sliding store's"))?;
            let key = match parsed {
                KeptKey::Record { key, .. } | KeptKey::Closed { key, .. } => key,
            };
            let k = K::from_key_bytes(key).map_err(|e| format!("a restored sliding-window key: {e}"))?;
            let (state, opened, done) = by_key.entry(k).or_insert_with(|| {
                let state = KeyState {
                    key_bytes: None,
                    log_key: Bytes::copy_from_slice(key),
                    records: BTreeMap::new(),
                    ends: BTreeSet::new(),
                };
                (state, Vec::new(), None)
            });
            match parsed {
                KeptKey::Record { ts, seq, .. } => {
                    let mut v = KeptValue::<T>::decode(&value)?;
                    let origin = v.origin();
                    kept.restored(origin.as_ref());
                    next_seq = next_seq.max(seq + 1);
                    if v.w {
                        opened.push((ts, seq));
                    }
                    state.records.insert(
                        (ts, seq),
                        Kept {
                            value: v.v,
                            meta: Meta::detached(ts),
                            ack: Ack::none(),
                            entry: Some(KeptEntry { ckey, origin }),
                        },
                    );
                }
                KeptKey::Closed { bounds: None, .. } => {
                    let end: [u8; 8] = value.as_ref().try_into().map_err(|_| {
                        format!("changelog entry {ckey:?} is not the end of a delivered sliding window")
                    })?;
                    *done = Some(i64::from_be_bytes(end));
                }
                KeptKey::Closed { .. } => return Err(format!("changelog key {ckey:?} is not a sliding store's")),
            }
        }
        self.seq = self.seq.max(next_seq);
        let mut emitted = 0;
        for (key, (mut state, opened, done)) in by_key {
            // Windows delivered before the restart stay closed; the others are open again
            // (or closed and not yet delivered: the first close emits them again).
            for (ts, seq) in opened {
                if done.is_some_and(|d| ts <= d) || !state.ends.insert(ts) {
                    continue;
                }
                self.pending.insert((ts, seq), key.clone());
            }
            if state.records.is_empty() {
                kept.log.write_after_emitted(closed_key(&state.log_key, None), None);
                continue;
            }
            let ends: Vec<Timestamp> = state.ends.iter().copied().collect();
            state.key_bytes = None;
            self.keys.insert(key.clone(), state);
            if agg.snapshot.is_some() {
                // Emitting every update: the last update may have been lost in the crash.
                for end in ends {
                    if !self.closed(end, stream_time) {
                        let (ack, _) = kept.log.emission();
                        out.extend(self.emit(&key, end, agg, Some(ack)));
                        emitted += 1;
                    }
                }
            }
        }
        kept.log.seen.merge(&restored.seen);
        Ok(emitted)
    }
}

impl super::sealed::Sealed for Sliding {}
