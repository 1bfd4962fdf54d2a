//! State for windows at fixed positions (tumbling and hopping): an aggregate per key per
//! window, folded as records arrive.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use indexmap::IndexMap;

use super::store::{result_event, Aggregator, Entry, WindowStore};
use super::{Window, WindowResult};
use crate::ack::Ack;
use crate::event::Event;
use crate::key::GroupKey;
use crate::record::{Meta, Timestamp};

struct Slot<A> {
    acc: A,
    acks: Vec<Ack>,
    key_bytes: Option<Bytes>,
    meta: Meta,
    max_ts: Timestamp,
}

/// Open fixed windows, ordered by end then start; keys in first-seen order.
pub struct FixedStore<K, T, A> {
    size: i64,
    advance: i64,
    grace: i64,
    /// Copies a value that belongs to several windows (hopping); `None` for tumbling.
    dup: Option<fn(&T) -> T>,
    windows: BTreeMap<(Timestamp, Timestamp), IndexMap<K, Slot<A>>>,
}

impl<K, T, A> FixedStore<K, T, A> {
    pub(crate) fn new(size: i64, advance: i64, grace: i64, dup: Option<fn(&T) -> T>) -> Self {
        FixedStore {
            size,
            advance,
            grace,
            dup,
            windows: BTreeMap::new(),
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

impl<K, T, A> WindowStore<K, T, A> for FixedStore<K, T, A>
where
    K: GroupKey,
    T: Send + 'static,
    A: Send + 'static,
{
    fn insert(
        &mut self,
        entry: Entry<K, T>,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> Result<(), Entry<K, T>> {
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
        for i in 0..count {
            let start = first + i * self.advance;
            let window = Window {
                start,
                end: start + self.size,
            };
            let last = i == count - 1;
            let (v, a) = if last {
                (value.take().expect("value"), std::mem::take(&mut ack))
            } else {
                let dup = self.dup.expect("a value in several windows needs a copier");
                (dup(value.as_ref().expect("value")), ack.share())
            };
            let keys = self.windows.entry((window.end, window.start)).or_default();
            // Look the key up before cloning it: most records land in an existing slot.
            let index = match keys.get_index_of(&key) {
                Some(index) => index,
                None => {
                    let slot = Slot {
                        acc: (agg.init)(),
                        acks: Vec::new(),
                        key_bytes: key_bytes.clone(),
                        meta: meta.clone().expect("meta"),
                        max_ts: ts,
                    };
                    keys.insert_full(key.clone(), slot).0
                }
            };
            let slot = &mut keys[index];
            (agg.fold)(&mut slot.acc, v);
            slot.acks.push(a);
            if ts >= slot.max_ts {
                slot.max_ts = ts;
                slot.meta = if last {
                    meta.take().expect("meta")
                } else {
                    meta.clone().expect("meta")
                };
            }
            if let Some(snapshot) = agg.snapshot {
                let share = slot.acks.last_mut().expect("just pushed").share();
                out.push_back(result_event(
                    key.clone(),
                    slot.key_bytes.clone(),
                    window,
                    snapshot(&slot.acc),
                    slot.meta.clone(),
                    slot.max_ts,
                    share,
                ));
            }
        }
        Ok(())
    }

    fn close(
        &mut self,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) {
        while let Some(entry) = self.windows.first_entry() {
            let (end, start) = *entry.key();
            if end + self.grace > stream_time {
                break;
            }
            let window = Window { start, end };
            for (key, slot) in entry.remove() {
                if agg.snapshot.is_none() {
                    out.push_back(result_event(
                        key,
                        slot.key_bytes,
                        window,
                        slot.acc,
                        slot.meta,
                        slot.max_ts,
                        Ack::merge(slot.acks),
                    ));
                }
                // Every-update mode: the updates carry shares of these acks; the window's
                // own shares are released now that it is closed.
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::FixedStore;

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
