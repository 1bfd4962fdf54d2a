use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

use super::store::{result_event, Aggregator, Entry, Inserted, WindowStore};
use super::{millis, Window, WindowKind, WindowResult, WindowValue};
use crate::ack::Ack;
use crate::event::Event;
use crate::flow::Origin;
use crate::key::GroupKey;
use crate::record::{Meta, Timestamp};

/// Sessions of activity per key: records at most `gap` apart belong to one session; a
/// record that bridges two sessions merges them. A session `[first, last + 1)` closes when
/// stream time passes `last + gap + grace`. Records are kept until the session closes, so
/// merged sessions fold their records in event-time order.
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

impl<K: GroupKey, T: Clone + Send + 'static> WindowKind<K, T> for Session {
    type Store<A: WindowValue> = SessionStore<K, T>;

    fn store<A: WindowValue>(&self) -> Self::Store<A> {
        SessionStore {
            gap: self.gap,
            grace: self.grace,
            keys: HashMap::new(),
            pending: BTreeMap::new(),
            seq: 0,
        }
    }

    fn name(&self) -> &'static str {
        "session"
    }
}

struct Open<T> {
    id: u64,
    first: Timestamp,
    last: Timestamp,
    /// (event time, arrival, value)
    values: Vec<(Timestamp, u64, T)>,
    acks: Vec<Ack>,
    meta: Meta,
}

struct KeyState<T> {
    key_bytes: Option<Bytes>,
    sessions: Vec<Open<T>>,
}

/// State of [`Session`] windows.
pub struct SessionStore<K, T> {
    gap: i64,
    grace: i64,
    keys: HashMap<K, KeyState<T>>,
    /// Close candidates by (close time, session id); stale entries (merged or extended
    /// sessions) are skipped.
    pending: BTreeMap<(Timestamp, u64), K>,
    seq: u64,
}

impl<K: GroupKey, T: Clone> SessionStore<K, T> {
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
        let mut values: Vec<&(Timestamp, u64, T)> = s.values.iter().collect();
        values.sort_by_key(|(ts, seq, _)| (*ts, *seq));
        let value = agg.fold_all(values.into_iter().map(|(_, _, v)| v.clone()));
        let window = Window {
            start: s.first,
            end: s.last + 1,
        };
        result_event(key.clone(), key_bytes, window, value, s.meta.clone(), s.last, ack)
    }
}

impl<K, T, A> WindowStore<K, T, A> for SessionStore<K, T>
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
        let gap = self.gap;
        let touches = |s: &Open<T>| s.first - gap <= ts && ts <= s.last + gap;
        let merges = self
            .keys
            .get(&entry.key)
            .is_some_and(|k| k.sessions.iter().any(touches));
        if !merges && self.close_time(ts) <= stream_time {
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
            key_bytes,
            sessions: Vec::new(),
        });
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
        merged.values.push((ts, arrival, value));
        let update_ack = agg.snapshot.map(|_| ack.share());
        merged.acks.push(ack);
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
            let Some(pos) = state
                .sessions
                .iter()
                .position(|s| s.id == id && s.last + self.gap + 1 + self.grace == close_at)
            else {
                continue;
            };
            let session = state.sessions.remove(pos);
            if agg.snapshot.is_none() {
                let key_bytes = state.key_bytes.clone();
                let acks = Ack::merge(session.acks.into_iter().collect());
                let s = Open {
                    acks: Vec::new(),
                    ..session
                };
                out.push_back(Self::result(&key, key_bytes, &s, agg, acks));
            }
            if state.sessions.is_empty() {
                self.keys.remove(&key);
            }
        }
        out.len() - before
    }
}

impl super::sealed::Sealed for Session {}
