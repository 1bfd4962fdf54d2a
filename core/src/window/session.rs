use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

use super::kept::{closed_key, parse_key, KeptEntry, KeptKey, KeptSide, KeptValue, SESSION_CLOSED, SESSION_DELIVERED};
use super::store::{result_event, Aggregator, Entry, Inserted, WindowStore};
use super::{millis, Window, WindowKind, WindowResult, WindowValue};
use crate::ack::Ack;
use crate::event::Event;
use crate::flow::Origin;
use crate::key::GroupKey;
use crate::record::{Meta, Timestamp};
use crate::state::changelog::Changelog;
use crate::state::restore::Restored;

/// Sessions of activity per key: records at most `gap` apart belong to one session; a
/// record that bridges two sessions merges them. A session `[first, last + 1)` closes when
/// stream time passes `last + gap + grace`; a record that arrives later within `gap` of
/// it would belong to it, so it is late (it neither changes the emitted session nor
/// starts a new one next to it). Records are kept until the session closes, so
/// merged sessions fold their records in event-time order: memory (and the changelog)
/// hold the records of open sessions, no more. With a changelog, each record is written
/// as it arrives and deleted once its session's result was delivered.
///
/// ```
/// use std::time::Duration;
/// use kflow_core::window::Session;
/// let w = Session::with_gap(Duration::from_secs(30));
/// assert_eq!(w.gap_ms(), 30_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    gap: i64,
    grace: i64,
}

impl Session {
    /// Sessions that end after `gap` of inactivity.
    pub fn with_gap(gap: Duration) -> Self {
        Session {
            gap: millis(gap),
            grace: 0,
        }
    }

    /// How long after a session's close records are still accepted into it.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = millis(grace);
        self
    }

    /// The inactivity gap in milliseconds.
    pub fn gap_ms(&self) -> i64 {
        self.gap
    }
}

impl<K: GroupKey, T: WindowValue + Clone> WindowKind<K, T> for Session {
    type Store<A: WindowValue> = SessionStore<K, T>;

    fn store<A: WindowValue>(&self) -> Self::Store<A> {
        SessionStore {
            gap: self.gap,
            grace: self.grace,
            keys: HashMap::new(),
            pending: BTreeMap::new(),
            remembered: BTreeMap::new(),
            seq: 0,
            side: KeptSide::default(),
        }
    }

    fn name(&self) -> &'static str {
        "session"
    }
}

/// A record kept in a session.
struct Value<T> {
    ts: Timestamp,
    /// Arrival order (and, with a changelog, part of its key).
    seq: u64,
    value: T,
    /// Changelog only: where it is written.
    entry: Option<KeptEntry>,
}

struct Open<T> {
    id: u64,
    first: Timestamp,
    last: Timestamp,
    values: Vec<Value<T>>,
    /// Without a changelog: the acks of its records, held until it is emitted.
    acks: Vec<Ack>,
    meta: Meta,
}

struct KeyState<T> {
    key_bytes: Option<Bytes>,
    /// The key's bytes in changelog keys.
    log_key: Bytes,
    sessions: Vec<Open<T>>,
    /// Bounds of sessions closed recently (see [`SessionStore::remembered`]): a record
    /// within the gap of one is late.
    closed: Vec<(Timestamp, Timestamp)>,
}

impl<T> KeyState<T> {
    fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.closed.is_empty()
    }
}

/// State of [`Session`] windows.
pub struct SessionStore<K, T> {
    gap: i64,
    grace: i64,
    keys: HashMap<K, KeyState<T>>,
    /// Close candidates by (close time, session id); stale entries (merged or extended
    /// sessions) are skipped.
    pending: BTreeMap<(Timestamp, u64), K>,
    /// Closed sessions to forget, by (when, id): key and bounds.
    remembered: BTreeMap<(Timestamp, u64), (K, Timestamp, Timestamp)>,
    seq: u64,
    side: KeptSide,
}

impl<K: GroupKey, T: WindowValue + Clone> SessionStore<K, T> {
    fn close_time(&self, last: Timestamp) -> Timestamp {
        last + self.gap + 1 + self.grace
    }

    fn result<A>(
        key: &K,
        key_bytes: Option<Bytes>,
        s: &Open<T>,
        agg: &mut Aggregator<T, A>,
        ack: Ack,
    ) -> Event<WindowResult<K, A>> {
        let mut values: Vec<&Value<T>> = s.values.iter().collect();
        values.sort_by_key(|v| (v.ts, v.seq));
        let value = agg.fold_all(values.into_iter().map(|v| v.value.clone()));
        let window = Window {
            start: s.first,
            end: s.last + 1,
        };
        result_event(key.clone(), key_bytes, window, value, s.meta.clone(), s.last, ack)
    }

    /// A closed session's bounds are remembered until stream time passes
    /// `last + 2 × gap + 1 + grace`: until then a record could touch it without being
    /// late for a session of its own, and such a record is late (it belongs to the closed
    /// session) rather than the start of a new session next to it. With a changelog, the
    /// closed session's entry is deleted only then, so a restore remembers it too.
    fn forget_at(&self, last: Timestamp) -> Timestamp {
        last + 2 * self.gap + 1 + self.grace
    }

    fn remember(&mut self, key: &K, first: Timestamp, last: Timestamp) {
        let id = self.seq;
        self.seq += 1;
        self.remembered
            .insert((self.forget_at(last), id), (key.clone(), first, last));
        if let Some(state) = self.keys.get_mut(key) {
            state.closed.push((first, last));
        }
    }

    /// Forgets the closed sessions whose time passed, deleting their changelog entries.
    fn forget_closed(&mut self, stream_time: Timestamp) {
        while let Some(entry) = self.remembered.first_entry() {
            if entry.key().0 > stream_time {
                break;
            }
            let (key, first, last) = entry.remove();
            let Some(state) = self.keys.get_mut(&key) else {
                continue;
            };
            state.closed.retain(|c| *c != (first, last));
            if let Some(kept) = self.side.kept.as_mut() {
                kept.log
                    .write_after_emitted(closed_key(&state.log_key, Some((first, last))), None);
            }
            if state.is_empty() {
                self.keys.remove(&key);
            }
        }
    }

    /// A closed session: with a changelog, marked closed, then (once its result was
    /// delivered) marked delivered and deleted with its records. Returns its result's ack.
    fn retire(&mut self, log_key: &[u8], session: &mut Open<T>, stream_time: Timestamp) -> Ack {
        let Some(kept) = self.side.kept.as_mut() else {
            return Ack::merge(std::mem::take(&mut session.acks));
        };
        let closed = closed_key(log_key, Some((session.first, session.last)));
        let (ack, n) = kept.log.emission();
        kept.log.put(
            closed.clone(),
            Bytes::from_static(&[SESSION_CLOSED]),
            Ack::none(),
            stream_time,
        );
        kept.log
            .write_after(n, closed.clone(), Some(Bytes::from_static(&[SESSION_DELIVERED])));
        for v in session.values.iter_mut() {
            if let Some(entry) = v.entry.take() {
                kept.forget_after(n, entry);
            }
        }
        ack
    }
}

impl<K, T, A> WindowStore<K, T, A> for SessionStore<K, T>
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
        let gap = self.gap;
        let touches = |s: &Open<T>| s.first - gap <= ts && ts <= s.last + gap;
        let (merges, closed) = self.keys.get(&entry.key).map_or((false, false), |k| {
            (
                k.sessions.iter().any(touches),
                k.closed
                    .iter()
                    .any(|&(first, last)| first - gap <= ts && ts <= last + gap),
            )
        });
        // Late: it would join a closed session, or it is past its own close with no open
        // session to join.
        if closed || (!merges && self.close_time(ts) <= stream_time) {
            return Err(entry);
        }
        let Entry {
            key,
            key_bytes,
            value,
            meta,
            mut ack,
        } = entry;
        let arrival = self.seq;
        self.seq += 1;
        let state = self.keys.entry(key.clone()).or_insert_with(|| KeyState {
            log_key: key_bytes.clone().unwrap_or_else(|| key.to_key_bytes()),
            key_bytes,
            sessions: Vec::new(),
            closed: Vec::new(),
        });
        let update_ack = agg.snapshot.map(|_| ack.share());
        let mut written = None;
        if let Some(kept) = self.side.kept.as_mut() {
            match kept.keep(
                &state.log_key,
                ts,
                arrival,
                &value,
                origin,
                false,
                ack.share(),
                stream_time,
            ) {
                Ok(e) => written = Some(e),
                Err(reason) => {
                    // Not applied: its ack is held (never committed) until the app stops.
                    self.side.failed(reason, ack);
                    return Ok(Inserted::Applied);
                }
            }
        }
        let (mut touched, rest): (Vec<Open<T>>, Vec<Open<T>>) =
            std::mem::take(&mut state.sessions).into_iter().partition(touches);
        state.sessions = rest;
        let mut merged = Open {
            id: arrival,
            first: ts,
            last: ts,
            values: Vec::new(),
            acks: Vec::new(),
            meta: meta.clone(),
        };
        touched.sort_by_key(|s| s.first);
        for s in touched {
            merged.first = merged.first.min(s.first);
            if s.last > merged.last {
                merged.last = s.last;
                merged.meta = s.meta;
            }
            merged.values.extend(s.values);
            merged.acks.extend(s.acks);
        }
        if ts >= merged.last {
            merged.meta = meta;
        }
        merged.values.push(Value {
            ts,
            seq: arrival,
            value,
            entry: written,
        });
        if self.side.kept.is_none() {
            merged.acks.push(ack);
        }
        let close_at = merged.last + self.gap + 1 + self.grace;
        self.pending.insert((close_at, merged.id), key.clone());
        if let Some(update_ack) = update_ack {
            out.push_back(Self::result(&key, state.key_bytes.clone(), &merged, agg, update_ack));
        }
        state.sessions.push(merged);
        state.sessions.sort_by_key(|s| s.first);
        Ok(Inserted::Applied)
    }

    fn close(
        &mut self,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> usize {
        let before = out.len();
        while let Some(entry) = self.pending.first_entry() {
            let (close_at, id) = *entry.key();
            if close_at > stream_time {
                break;
            }
            let key = entry.remove();
            let Some(state) = self.keys.get_mut(&key) else {
                continue;
            };
            // Stale when the session was merged away or extended (its id or close moved).
            let (gap, grace) = (self.gap, self.grace);
            let Some(pos) = state
                .sessions
                .iter()
                .position(|s| s.id == id && s.last + gap + 1 + grace == close_at)
            else {
                continue;
            };
            let mut session = state.sessions.remove(pos);
            let (key_bytes, log_key) = (state.key_bytes.clone(), state.log_key.clone());
            let ack = self.retire(&log_key, &mut session, stream_time);
            self.remember(&key, session.first, session.last);
            if agg.snapshot.is_none() {
                out.push_back(Self::result(&key, key_bytes, &session, agg, ack));
            }
        }
        self.forget_closed(stream_time);
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
        let Some(kept) = self.side.kept.as_mut() else {
            return Ok(0);
        };
        let stream_time = restored.stream_time.unwrap_or(Timestamp::MIN);
        struct Found<T> {
            log_key: Bytes,
            records: Vec<Value<T>>,
            closed: Vec<(Timestamp, Timestamp, Option<u8>, Bytes)>,
        }
        let mut by_key: HashMap<K, Found<T>> = HashMap::new();
        let mut next_seq = 0;
        for (ckey, value) in restored.entries {
            let parsed = parse_key(&ckey).ok_or_else(|| format!("changelog key {ckey:?} is not a session store's"))?;
            let (key, log_key) = match parsed {
                KeptKey::Record { key, .. } | KeptKey::Closed { key, .. } => (key, Bytes::copy_from_slice(key)),
            };
            let k = K::from_key_bytes(key).map_err(|e| format!("a restored session key: {e}"))?;
            let found = by_key.entry(k).or_insert_with(|| Found {
                log_key,
                records: Vec::new(),
                closed: Vec::new(),
            });
            match parsed {
                KeptKey::Record { ts, seq, .. } => {
                    let mut v = KeptValue::<T>::decode(&value)?;
                    let origin = v.origin();
                    kept.restored(origin.as_ref());
                    next_seq = next_seq.max(seq + 1);
                    found.records.push(Value {
                        ts,
                        seq,
                        value: v.v,
                        entry: Some(KeptEntry { ckey, origin }),
                    });
                }
                KeptKey::Closed {
                    bounds: Some((first, last)),
                    ..
                } => found.closed.push((first, last, value.first().copied(), ckey)),
                KeptKey::Closed { bounds: None, .. } => {
                    return Err(format!("changelog key {ckey:?} is not a session store's"))
                }
            }
        }
        self.seq = self.seq.max(next_seq);
        let mut emitted = 0;
        // Closed sessions to remember (delivered, or with nothing left): key and bounds.
        let mut delivered = Vec::new();
        for (key, mut found) in by_key {
            found.records.sort_by_key(|v| (v.ts, v.seq));
            found.closed.sort_by_key(|c| (c.0, c.1));
            let mut sessions: Vec<Open<T>> = Vec::new();
            let mut records = found.records.into_iter().peekable();
            let mut closed = found.closed.into_iter().peekable();
            loop {
                let next_closed = closed.peek().map(|c| c.0);
                let Some(first) = records.peek().map(|v| v.ts) else {
                    break;
                };
                if next_closed.is_some_and(|f| f <= first) {
                    // A session closed before the restart: its bounds say which records
                    // are its own, whatever deletions the crash cut short.
                    let (f, l, state, _) = closed.next().expect("peeked");
                    let mut values = Vec::new();
                    while let Some(v) = records.next_if(|v| v.ts <= l) {
                        values.push(v);
                    }
                    if state == Some(SESSION_DELIVERED) || values.is_empty() {
                        for mut v in values {
                            if let Some(entry) = v.entry.take() {
                                kept.forget(entry);
                            }
                        }
                        delivered.push((key.clone(), f, l));
                        continue;
                    }
                    sessions.push(Open {
                        id: 0,
                        first: f,
                        last: l,
                        values,
                        acks: Vec::new(),
                        meta: Meta::detached(l),
                    });
                    continue;
                }
                // Open records: one session per run of records at most `gap` apart, up to
                // the next closed session.
                let mut values = vec![records.next().expect("peeked")];
                let mut last = first;
                while let Some(v) = records.next_if(|v| v.ts - last <= self.gap && next_closed.is_none_or(|f| v.ts < f))
                {
                    last = v.ts;
                    values.push(v);
                }
                sessions.push(Open {
                    id: 0,
                    first,
                    last,
                    values,
                    acks: Vec::new(),
                    meta: Meta::detached(last),
                });
            }
            // Closed sessions whose records were all deleted already.
            for (f, l, _, _) in closed {
                delivered.push((key.clone(), f, l));
            }
            for s in sessions.iter_mut() {
                s.id = self.seq;
                self.seq += 1;
                let close_at = s.last + self.gap + 1 + self.grace;
                self.pending.insert((close_at, s.id), key.clone());
                if agg.snapshot.is_some() && close_at > stream_time {
                    // Emitting every update: the last update may have been lost in the crash.
                    let (ack, _) = kept.log.emission();
                    out.push_back(Self::result(&key, None, s, agg, ack));
                    emitted += 1;
                }
            }
            self.keys.insert(
                key,
                KeyState {
                    key_bytes: None,
                    log_key: found.log_key,
                    sessions,
                    closed: Vec::new(),
                },
            );
        }
        kept.log.seen.merge(&restored.seen);
        // Remembered until their time passes (the close after the restore forgets those
        // whose time already has, and deletes their entries).
        for (key, first, last) in delivered {
            self.remember(&key, first, last);
        }
        Ok(emitted)
    }
}

impl super::sealed::Sealed for Session {}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use bytes::Bytes;

    use super::super::kept::{closed_key, record_key, SESSION_CLOSED, SESSION_DELIVERED};
    use super::super::store::{Aggregator, WindowStore};
    use super::super::{WindowKind, WindowResult};
    use super::Session;
    use crate::event::Event;
    use crate::state::changelog::Changelog;
    use crate::state::restore::Restored;

    type Out = VecDeque<Event<WindowResult<String, u64>>>;

    fn count() -> Aggregator<u64, u64> {
        Aggregator {
            init: Box::new(|| 0),
            fold: Box::new(|n, _| *n += 1),
            snapshot: None,
        }
    }

    fn windows(out: &mut Out) -> Vec<(i64, i64, u64)> {
        out.drain(..)
            .filter_map(|e| match e {
                Event::Msg(m) => Some((
                    m.record.value.window.start,
                    m.record.value.window.end,
                    m.record.value.value,
                )),
                _ => None,
            })
            .collect()
    }

    /// k's records at `ts` (sequence numbers in order), the closed session [1 s, 2 s]
    /// marked `state`, stream time 8 s.
    fn restored(ts: &[i64], state: u8) -> Restored {
        let mut r = Restored {
            stream_time: Some(8_000),
            ..Restored::default()
        };
        for (seq, t) in ts.iter().enumerate() {
            r.entries
                .insert(record_key(b"k", *t, seq as u64), Bytes::from_static(br#"{"v":1}"#));
        }
        r.entries
            .insert(closed_key(b"k", Some((1_000, 2_000))), Bytes::from(vec![state]));
        r
    }

    fn store() -> <Session as WindowKind<String, u64>>::Store<u64> {
        let kind = Session::with_gap(Duration::from_secs(5));
        let mut store = <Session as WindowKind<String, u64>>::store::<u64>(&kind);
        assert!(WindowStore::<String, u64, u64>::attach(
            &mut store,
            Changelog::new("c", 0)
        ));
        store
    }

    #[test]
    fn an_undelivered_closed_session_is_emitted_again_whole_and_apart_from_its_neighbour() {
        let (mut store, mut agg, mut out) = (store(), count(), Out::new());
        store
            .restore(restored(&[1_000, 2_000, 6_000], SESSION_CLOSED), &mut agg, &mut out)
            .unwrap();
        store.close(8_000, &mut agg, &mut out);
        assert_eq!(
            windows(&mut out),
            [(1_000, 2_001, 2)],
            "the same value as before the crash"
        );
        store.close(100_000, &mut agg, &mut out);
        assert_eq!(
            windows(&mut out),
            [(6_000, 6_001, 1)],
            "not merged with the closed session"
        );
    }

    #[test]
    fn a_delivered_sessions_remains_are_deleted_not_emitted() {
        let (mut store, mut agg, mut out) = (store(), count(), Out::new());
        // The crash cut the deletions short: the 1 s record is gone, the 2 s one is left.
        store
            .restore(restored(&[2_000, 6_000], SESSION_DELIVERED), &mut agg, &mut out)
            .unwrap();
        store.close(8_000, &mut agg, &mut out);
        assert_eq!(windows(&mut out), [], "a delivered session is not emitted again");
        WindowStore::<String, u64, u64>::flush(&mut store, 8_000).unwrap();
        let log = WindowStore::<String, u64, u64>::changelog(&mut store).unwrap();
        let deleted: Vec<Bytes> = std::iter::from_fn(|| log.next_write())
            .filter(|(r, _)| r.value.is_none())
            .filter_map(|(r, _)| r.key)
            .collect();
        assert_eq!(deleted, [record_key(b"k", 2_000, 0)], "its remains are deleted");
        store.close(100_000, &mut agg, &mut out);
        assert_eq!(windows(&mut out), [(6_000, 6_001, 1)]);
        WindowStore::<String, u64, u64>::flush(&mut store, 100_000).unwrap();
        let log = WindowStore::<String, u64, u64>::changelog(&mut store).unwrap();
        let deleted: Vec<Bytes> = std::iter::from_fn(|| log.next_write())
            .filter(|(r, _)| r.value.is_none())
            .filter_map(|(r, _)| r.key)
            .collect();
        assert!(
            deleted.contains(&closed_key(b"k", Some((1_000, 2_000)))),
            "its closed mark, once no record can be late for it: {deleted:?}"
        );
    }
}
