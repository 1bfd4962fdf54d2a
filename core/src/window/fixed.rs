//! State for windows at fixed positions (tumbling and hopping): an aggregate per key per
//! window, folded as records arrive.
//!
//! With a changelog attached, a record's ack is released once the slot values that
//! reflect it are written (not when its window closes), each slot remembers the highest
//! origin it reflects per input partition (so a replayed or duplicated record is not
//! folded twice), and a closed slot is deleted from the changelog once its result was
//! delivered.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use indexmap::IndexMap;
use serde::{de::DeserializeOwned, Serialize};

use super::store::{result_event, Aggregator, Entry, Inserted, WindowStore};
use super::{Window, WindowResult};
use crate::ack::Ack;
use crate::event::Event;
use crate::flow::Origin;
use crate::key::GroupKey;
use crate::record::{Meta, Timestamp};
use crate::state::changelog::{Changelog, Origins, SlotValue, SlotValueRef, SLOT};
use crate::state::restore::Restored;
use bytes::{BufMut, BytesMut};

struct Slot<A> {
    acc: A,
    /// Acks of the records folded in: without a changelog, all of them (held until the
    /// window closes); with one, those not yet written.
    pending: Vec<Ack>,
    /// Changed since last written (changelog only).
    dirty: bool,
    key_bytes: Option<Bytes>,
    meta: Meta,
    max_ts: Timestamp,
    /// Changelog only: the slot's changelog key, the origins it reflects, and (emitting
    /// every update) the emission its updates share.
    durable: Option<Durable>,
}

struct Durable {
    key: Bytes,
    origins: Origins,
    emit: Option<(Ack, i64)>,
}

type WindowKey = (Timestamp, Timestamp);

/// Open fixed windows, ordered by end then start; keys in first-seen order.
pub struct FixedStore<K, T, A> {
    size: i64,
    advance: i64,
    grace: i64,
    /// Copies a value that belongs to several windows (hopping); `None` for tumbling.
    dup: Option<fn(&T) -> T>,
    windows: BTreeMap<WindowKey, IndexMap<K, Slot<A>>>,
    log: Option<Changelog>,
    /// Slots changed since the last flush: window and index in it (stale once the window
    /// closed, which writes its slots itself).
    dirty: Vec<(WindowKey, usize)>,
    /// On disk: how many slots of each window are in the database only.
    evicted: BTreeMap<WindowKey, usize>,
}

impl<K, T, A> FixedStore<K, T, A> {
    pub(crate) fn new(size: i64, advance: i64, grace: i64, dup: Option<fn(&T) -> T>) -> Self {
        FixedStore {
            size,
            advance,
            grace,
            dup,
            windows: BTreeMap::new(),
            log: None,
            dirty: Vec::new(),
            evicted: BTreeMap::new(),
        }
    }

    /// Windows containing `ts` that are still open at `stream_time`, oldest first: the
    /// first start and how many (consecutive, `advance` apart).
    fn open_windows(&self, ts: Timestamp, stream_time: Timestamp) -> (Timestamp, i64) {
        let last = ts.div_euclid(self.advance) * self.advance;
        // Oldest window still containing ts: start > ts - size.
        let oldest = last - ((self.size - 1 - ts.rem_euclid(self.advance)) / self.advance) * self.advance;
        // Oldest window still open: start + size + grace > stream_time.
        let open_from = stream_time.saturating_sub(self.size + self.grace - 1);
        let first = if oldest >= open_from {
            oldest
        } else {
            let skip = (open_from - oldest + self.advance - 1) / self.advance;
            oldest + skip * self.advance
        };
        let count = if first > last {
            0
        } else {
            (last - first) / self.advance + 1
        };
        (first, count)
    }
}

/// The changelog key of the slot of `key` in `window`.
pub(crate) fn slot_key(window: Window, key: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(17 + key.len());
    b.put_u8(SLOT);
    b.put_i64(window.start);
    b.put_i64(window.end);
    b.put_slice(key);
    b.freeze()
}

/// The window and grouping-key bytes of a slot key; `None` if it is not one.
pub(crate) fn parse_slot_key(key: &[u8]) -> Option<(Window, &[u8])> {
    if key.len() < 17 || key[0] != SLOT {
        return None;
    }
    let start = i64::from_be_bytes(key[1..9].try_into().ok()?);
    let end = i64::from_be_bytes(key[9..17].try_into().ok()?);
    Some((Window { start, end }, &key[17..]))
}

/// A slot read back from its changelog value (from a restore or the database).
fn restored_slot<A: DeserializeOwned>(ckey: Bytes, value: &[u8], emit: Option<(Ack, i64)>) -> Result<Slot<A>, String> {
    let value: SlotValue<A> = serde_json::from_slice(value).map_err(|e| format!("a restored window aggregate: {e}"))?;
    let meta = Meta::detached(value.t);
    let slot = Slot {
        acc: value.a,
        pending: Vec::new(),
        dirty: false,
        key_bytes: None,
        meta,
        max_ts: value.t,
        durable: Some(Durable {
            key: ckey,
            origins: value.o,
            emit,
        }),
    };
    Ok(slot)
}

impl<K: GroupKey, T, A: DeserializeOwned> FixedStore<K, T, A> {
    /// Reads every slot of `window` that is only in the database into memory.
    fn load_window(&mut self, window: WindowKey) -> Result<(), String> {
        if self.evicted.remove(&window).is_none() {
            return Ok(());
        }
        let Some(disk) = self.log.as_ref().and_then(Changelog::disk) else {
            return Ok(());
        };
        let (end, start) = window;
        let prefix = slot_key(Window { start, end }, &[]);
        let keys = self.windows.entry(window).or_default();
        for (ckey, value) in disk.scan(&prefix)? {
            let (_, key_bytes) = parse_slot_key(&ckey).ok_or("a database key is not a window slot")?;
            let key = K::from_key_bytes(key_bytes).map_err(|e| format!("a stored window key: {e}"))?;
            if keys.contains_key(&key) {
                continue;
            }
            keys.insert(key, restored_slot(ckey, &value, None)?);
        }
        Ok(())
    }

    /// With a database: drops slots from memory until at most 90 % of the cache is used,
    /// keeping those whose newest value the database does not have yet.
    fn evict(&mut self) {
        let Some((log, cache)) = self.log.as_ref().and_then(|l| Some((l, l.cache()?))) else {
            return;
        };
        let resident: usize = self.windows.values().map(IndexMap::len).sum();
        if resident <= cache {
            return;
        }
        let mut excess = resident - cache * 9 / 10;
        for (window, keys) in self.windows.iter_mut() {
            if excess == 0 {
                break;
            }
            let before = keys.len();
            keys.retain(|_, slot| {
                let evictable = excess > 0
                    && !slot.dirty
                    && slot.pending.is_empty()
                    && slot
                        .durable
                        .as_ref()
                        .is_some_and(|d| d.emit.is_none() && !log.is_pending(&d.key));
                if evictable {
                    excess -= 1;
                }
                !evictable
            });
            let gone = before - keys.len();
            if gone > 0 {
                *self.evicted.entry(*window).or_default() += gone;
            }
        }
        self.windows.retain(|_, keys| !keys.is_empty());
    }
}

/// The changelog value of a slot.
fn encode_slot<A: Serialize>(slot: &Slot<A>, origins: &Origins) -> Result<Bytes, String> {
    let value = SlotValueRef {
        a: &slot.acc,
        t: slot.max_ts,
        o: origins,
    };
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| format!("a window aggregate could not be written to the changelog: {e}"))
}

/// Writes `slot`'s value with the acks of the records it took since it was last written.
fn write_slot<A: Serialize>(log: &mut Changelog, slot: &mut Slot<A>, stream_time: Timestamp) -> Result<(), String> {
    let Some(durable) = slot.durable.as_ref() else {
        return Ok(());
    };
    if !slot.dirty {
        return Ok(());
    }
    let value = encode_slot(slot, &durable.origins)?;
    let key = durable.key.clone();
    slot.dirty = false;
    log.put(key, value, Ack::merge(std::mem::take(&mut slot.pending)), stream_time);
    Ok(())
}

impl<K, T, A> WindowStore<K, T, A> for FixedStore<K, T, A>
where
    K: GroupKey,
    T: Send + 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
{
    fn insert(
        &mut self,
        entry: Entry<K, T>,
        origin: Option<&Origin>,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> Result<Inserted, Entry<K, T>> {
        let (first, count) = self.open_windows(entry.meta.timestamp, stream_time);
        if count == 0 {
            return Err(entry);
        }
        let Entry {
            key,
            key_bytes,
            value,
            meta,
            mut ack,
        } = entry;
        let ts = meta.timestamp;
        let mut value = Some(value);
        let mut meta = Some(meta);
        let mut applied = false;
        for i in 0..count {
            let start = first + i * self.advance;
            let window = Window {
                start,
                end: start + self.size,
            };
            let last = i == count - 1;
            let on_disk = self.evicted.contains_key(&(window.end, window.start));
            let keys = self.windows.entry((window.end, window.start)).or_default();
            // Look the key up before cloning it: most records land in an existing slot.
            let found = match keys.get_index_of(&key) {
                Some(index) => Some(index),
                // Some of this window's slots are in the database only.
                None if on_disk => {
                    let ckey = slot_key(window, &key_bytes.clone().unwrap_or_else(|| key.to_key_bytes()));
                    let stored = self.log.as_ref().and_then(Changelog::disk).map(|d| d.get(&ckey));
                    match stored {
                        Some(Ok(Some(value))) => match restored_slot(ckey, &value, None) {
                            Ok(slot) => {
                                let w = (window.end, window.start);
                                if self.evicted.get(&w).is_some_and(|n| *n <= 1) {
                                    self.evicted.remove(&w);
                                } else if let Some(n) = self.evicted.get_mut(&w) {
                                    *n -= 1;
                                }
                                Some(keys.insert_full(key.clone(), slot).0)
                            }
                            Err(reason) => {
                                tracing::error!(%reason, "a window slot in the database cannot be read; the slot starts again");
                                None
                            }
                        },
                        Some(Err(reason)) => {
                            tracing::error!(%reason, "the window database cannot be read; the slot starts again");
                            None
                        }
                        _ => None,
                    }
                }
                None => None,
            };
            let index = match found {
                Some(index) => index,
                None => {
                    let durable = self.log.as_mut().map(|log| Durable {
                        key: slot_key(window, &key_bytes.clone().unwrap_or_else(|| key.to_key_bytes())),
                        origins: Origins::default(),
                        emit: agg.snapshot.is_some().then(|| log.emission()),
                    });
                    let slot = Slot {
                        acc: (agg.init)(),
                        pending: Vec::new(),
                        dirty: false,
                        key_bytes: key_bytes.clone(),
                        meta: meta.clone().expect("meta"),
                        max_ts: ts,
                        durable,
                    };
                    keys.insert_full(key.clone(), slot).0
                }
            };
            let slot = &mut keys[index];
            if let (Some(origin), Some(durable)) = (origin, slot.durable.as_mut()) {
                if durable.origins.covers(origin) {
                    continue;
                }
                durable.origins.advance(origin);
            }
            applied = true;
            let (v, a) = if last {
                (value.take().expect("value"), std::mem::take(&mut ack))
            } else {
                let dup = self.dup.expect("a value in several windows needs a copier");
                (dup(value.as_ref().expect("value")), ack.share())
            };
            (agg.fold)(&mut slot.acc, v);
            slot.pending.push(a);
            if slot.durable.is_some() && !slot.dirty {
                slot.dirty = true;
                self.dirty.push(((window.end, window.start), index));
            }
            if ts >= slot.max_ts {
                slot.max_ts = ts;
                slot.meta = if last {
                    meta.take().expect("meta")
                } else {
                    meta.clone().expect("meta")
                };
            }
            if let Some(snapshot) = agg.snapshot {
                let mut shares = vec![slot.pending.last_mut().expect("just pushed").share()];
                if let Some((emit, _)) = slot.durable.as_mut().and_then(|d| d.emit.as_mut()) {
                    shares.push(emit.share());
                }
                out.push_back(result_event(
                    key.clone(),
                    slot.key_bytes.clone(),
                    window,
                    snapshot(&slot.acc),
                    slot.meta.clone(),
                    slot.max_ts,
                    Ack::merge(shares),
                ));
            }
        }
        // A duplicate for every window: nothing holds its ack, so it is released here.
        drop(ack);
        Ok(if applied {
            Inserted::Applied
        } else {
            Inserted::Duplicate
        })
    }

    fn close(
        &mut self,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> usize {
        let mut emitted = 0;
        // Windows closing now with slots in the database only: read them in first.
        let closing: Vec<WindowKey> = self
            .evicted
            .keys()
            .take_while(|(end, _)| end + self.grace <= stream_time)
            .copied()
            .collect();
        for window in closing {
            if let Err(reason) = self.load_window(window) {
                tracing::error!(%reason, "the window database cannot be read");
            }
        }
        while let Some(entry) = self.windows.first_entry() {
            let (end, start) = *entry.key();
            if end + self.grace > stream_time {
                break;
            }
            let window = Window { start, end };
            for (key, mut slot) in entry.remove() {
                let mut result_ack = None;
                if let Some(log) = self.log.as_mut() {
                    // The final value is written first; a failure to encode it was
                    // already met by an earlier write of the same type, so it is kept
                    // for the next flush to report.
                    if write_slot(log, &mut slot, stream_time).is_err() {
                        slot.dirty = true;
                    }
                    let durable = slot.durable.take().expect("a durable slot");
                    let (ack, n) = match durable.emit {
                        Some((own, n)) => {
                            drop(own);
                            (None, n)
                        }
                        None => {
                            let (ack, n) = log.emission();
                            (Some(ack), n)
                        }
                    };
                    log.delete_after(n, durable.key);
                    result_ack = ack;
                } else if agg.snapshot.is_none() {
                    result_ack = Some(Ack::merge(std::mem::take(&mut slot.pending)));
                }
                if agg.snapshot.is_none() {
                    out.push_back(result_event(
                        key,
                        slot.key_bytes,
                        window,
                        slot.acc,
                        slot.meta,
                        slot.max_ts,
                        result_ack.unwrap_or_default(),
                    ));
                    emitted += 1;
                }
                // Every-update mode: the updates carry shares of these acks; the window's
                // own shares are released now that it is closed.
            }
        }
        emitted
    }

    fn attach(&mut self, log: Changelog) -> bool {
        self.log = Some(log);
        true
    }

    fn on_disk(&self) -> bool {
        true
    }

    fn changelog(&mut self) -> Option<&mut Changelog> {
        self.log.as_mut()
    }

    fn dirty(&self) -> usize {
        self.dirty.len()
    }

    fn flush(&mut self, stream_time: Timestamp) -> Result<(), String> {
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        log.apply_acked()?;
        for (window, index) in self.dirty.drain(..) {
            if let Some((_, slot)) = self.windows.get_mut(&window).and_then(|w| w.get_index_mut(index)) {
                write_slot(log, slot, stream_time)?;
            }
        }
        log.flush(stream_time);
        self.evict();
        Ok(())
    }

    fn restore(
        &mut self,
        restored: Restored,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> Result<usize, String> {
        let Some(log) = self.log.as_mut() else {
            return Ok(0);
        };
        let mut slots: Vec<_> = restored.entries.into_iter().collect();
        if let Some(disk) = log.disk() {
            if agg.snapshot.is_some() {
                // Emitting every update: every slot is read in (and emitted below).
                slots = disk.scan(&[SLOT])?;
            } else {
                // Slots stay in the database until a record or the close needs them.
                for ckey in disk.keys(&[SLOT])? {
                    let (window, _) = parse_slot_key(&ckey).ok_or("a database key is not a window slot")?;
                    *self.evicted.entry((window.end, window.start)).or_default() += 1;
                }
            }
        }
        slots.sort();
        let mut emitted = 0;
        for (ckey, value) in slots {
            let (window, key_bytes) =
                parse_slot_key(&ckey).ok_or_else(|| format!("changelog key {ckey:?} is not a window slot"))?;
            let key = K::from_key_bytes(key_bytes).map_err(|e| format!("a restored window key: {e}"))?;
            let emit = agg.snapshot.is_some().then(|| log.emission());
            let mut slot = restored_slot::<A>(ckey.clone(), &value, emit)?;
            if let (Some(snapshot), Some((emit, _))) =
                (agg.snapshot, slot.durable.as_mut().and_then(|d| d.emit.as_mut()))
            {
                // Emitting every update: the last update may have been lost in the crash.
                out.push_back(result_event(
                    key.clone(),
                    None,
                    window,
                    snapshot(&slot.acc),
                    slot.meta.clone(),
                    slot.max_ts,
                    emit.share(),
                ));
                emitted += 1;
            }
            self.windows
                .entry((window.end, window.start))
                .or_default()
                .insert(key, slot);
        }
        log.seen.merge(&restored.seen);
        Ok(emitted)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The windows by the definition: every `advance`-aligned start whose window holds
    /// `ts` and is open at `stream_time`.
    fn by_definition(size: i64, advance: i64, grace: i64, ts: i64, stream_time: i64) -> Vec<i64> {
        let mut starts = Vec::new();
        let mut s = (ts - size).div_euclid(advance) * advance;
        while s <= ts {
            if s <= ts && ts < s + size && s + size + grace > stream_time {
                starts.push(s);
            }
            s += advance;
        }
        starts
    }

    #[test]
    fn slot_keys_round_trip() {
        let w = Window { start: -5, end: 10 };
        let key = slot_key(w, b"user-1");
        assert_eq!(parse_slot_key(&key), Some((w, &b"user-1"[..])));
        assert_eq!(parse_slot_key(&[crate::state::changelog::MARKS]), None);
    }

    proptest! {
        #[test]
        fn open_windows_match_the_definition(
            size in 1i64..50, adv_frac in 1i64..50, grace in 0i64..30, ts in -200i64..200, ahead in 0i64..120,
        ) {
            let advance = adv_frac.min(size);
            let store = FixedStore::<u8, u8, u8>::new(size, advance, grace, None);
            let stream_time = ts + ahead;
            let (first, count) = store.open_windows(ts, stream_time);
            let got: Vec<i64> = (0..count).map(|i| first + i * advance).collect();
            prop_assert_eq!(got, by_definition(size, advance, grace, ts, stream_time));
        }
    }
}
