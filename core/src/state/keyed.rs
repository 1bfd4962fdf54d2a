//! Custom keyed state: [`Grouped::stateful`] gives a handler a typed state per key.
//!
//! Each key's state is one changelog entry: kind byte `5` then the key's bytes; its value
//! is JSON with the state (`s`, in a one-element array; absent once the handler cleared
//! it) and the highest origin it reflects per input partition (`o`). A record's state change is written only once
//! the outputs it produced were delivered, and its offset commits once that write is
//! acknowledged. So after a crash:
//!
//! - a record whose change is in the changelog had its outputs delivered: replayed, it
//!   is recognised by its origin and skipped (no second state change, no second output);
//! - a record whose change is not had its outputs delivered or not: replayed, it is
//!   applied to the restored state (the state before it) and its outputs are produced
//!   again, at least once.
//!
//! Repartition records carry their origin (`kflow.origin`), so duplicates written by an
//! upstream task that crashed are recognised as well. A cleared state keeps its marks (a
//! few bytes per key), so a replayed record is not applied to a fresh state.

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::Stream;
use pin_project_lite::pin_project;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::changelog::{Changelog, Origins, KEYED};
use super::restore::{Restored, Restoring};
use crate::ack::Ack;
use crate::error::{Fatal, Result};
use crate::event::{Event, Msg};
use crate::flow::{origin_of, poll_sending, Flow, Grouped, OriginCounter, TaskEnv};
use crate::key::GroupKey;
use crate::record::{Headers, Record};
use crate::telemetry::metrics;

/// What a custom state must be: it is written to the changelog (as JSON) and read back
/// on restore. Implemented for every serde type that is `Send + 'static`.
pub trait StateValue: Serialize + DeserializeOwned + Send + 'static {}

impl<S: Serialize + DeserializeOwned + Send + 'static> StateValue for S {}

/// Write the changes that became due at least this often while records keep coming.
const FLUSH_EVERY: usize = 4096;

/// How long to wait for output deliveries before looking again at what became due.
const DELIVERY_WAIT: Duration = Duration::from_millis(100);

impl<K: GroupKey, T: Send + 'static> Grouped<K, T> {
    /// Keeps a state of type `S` per key: `f` gets the key, the key's state (`None` until
    /// set; set it to `None` to clear it) and the value, and returns the records to emit
    /// (keyed by the group key). In a running app the state is kept in the changelog
    /// topic `<app>-<processor>-state-changelog` (`state-2`, ... for later ones) and
    /// restored before the task takes a record; each record changes it once, even when
    /// it is replayed after a crash or written twice to a repartition topic, and outputs
    /// are at least once (see `docs/state.md`).
    ///
    /// Running totals, and deduplication:
    ///
    /// ```
    /// use kflow_core::{Flow, Record};
    /// let amounts = [("ann", 5u64), ("bo", 1), ("ann", 2)]
    ///     .map(|(user, n)| Record::new(n).with_key(user));
    /// let totals = Flow::from_records(amounts)
    ///     .group_by_key::<String>()
    ///     .stateful(|_user, total: &mut Option<u64>, n| {
    ///         let t = total.get_or_insert(0);
    ///         *t += n;
    ///         [*t]
    ///     });
    /// assert_eq!(totals.collect_values_blocking(), [5, 1, 7]);
    ///
    /// let first_seen = Flow::from_iter(["a", "b", "a"].map(String::from))
    ///     .group_by(|id| id.clone())
    ///     .stateful(|_id, seen: &mut Option<()>, id| seen.replace(()).is_none().then_some(id));
    /// assert_eq!(first_seen.collect_values_blocking(), ["a", "b"]);
    /// ```
    pub fn stateful<S, U, I, F>(self, f: F) -> Flow<U>
    where
        S: StateValue,
        U: Send + 'static,
        I: IntoIterator<Item = U> + 'static,
        F: FnMut(&K, &mut Option<S>, T) -> I + Send + 'static,
    {
        let flow = self.into_flow();
        let build = flow.build.clone();
        let trusted = build.repartition_topics();
        let (store, changelog) = build.add_state();
        let names = Names {
            store,
            changelog,
            trusted,
        };
        let stream = KeyedState::new(flow.stream, f, names, build.env());
        Flow::new(stream, build)
    }
}

/// A store's name, its changelog, and the topics whose origin headers it trusts.
struct Names {
    store: String,
    changelog: Option<String>,
    trusted: Vec<String>,
}

struct Slot<S> {
    state: Option<S>,
    origins: Origins,
    /// The key's bytes in the changelog key and (when the record had none) output keys.
    log_key: Bytes,
    key_bytes: Option<Bytes>,
}

/// A state's changelog value. The state is wrapped in a one-element array and left out
/// when cleared, so that a state that serializes as `null` (`()`) is still a state.
#[derive(Serialize)]
struct SlotRef<'a, S> {
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<(&'a S,)>,
    o: &'a Origins,
}

#[derive(Deserialize)]
struct SlotValue<S> {
    #[serde(default = "none")]
    s: Option<(S,)>,
    #[serde(default)]
    o: Origins,
}

fn none<S>() -> Option<S> {
    None
}

fn changelog_key(key: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(1 + key.len());
    b.put_u8(KEYED);
    b.put_slice(key);
    b.freeze()
}

pin_project! {
    /// Stream for [`Grouped::stateful`].
    #[must_use = "streams do nothing unless polled"]
    struct KeyedState<St, K, T, S, U, I, F> {
        #[pin]
        upstream: St,
        f: F,
        slots: HashMap<K, Slot<S>>,
        log: Option<Changelog>,
        out: VecDeque<Event<U>>,
        env: TaskEnv,
        names: Names,
        origins: OriginCounter,
        restoring: Restoring,
        writing: Option<BoxFuture<'static, Result<()>>>,
        waiting: Option<BoxFuture<'static, ()>>,
        since_flush: usize,
        duplicates: ::metrics::Counter,
        // Acks of records whose change could not be written: never released.
        held: Vec<Ack>,
        upstream_done: bool,
        done: bool,
        _types: PhantomData<fn(T) -> (U, I)>,
    }
}

impl<St, K, T, S, U, I, F> KeyedState<St, K, T, S, U, I, F> {
    fn new(upstream: St, f: F, names: Names, env: &TaskEnv) -> Self {
        KeyedState {
            upstream,
            f,
            slots: HashMap::new(),
            log: None,
            out: VecDeque::new(),
            duplicates: metrics::state_duplicates(env.name(), &names.store),
            env: env.clone(),
            names,
            origins: OriginCounter::default(),
            restoring: Restoring::Pending,
            writing: None,
            waiting: None,
            since_flush: 0,
            held: Vec::new(),
            upstream_done: false,
            done: false,
            _types: PhantomData,
        }
    }
}

impl<St, K, T, S, U, I, F> Stream for KeyedState<St, K, T, S, U, I, F>
where
    St: Stream<Item = Event<(K, T)>>,
    K: GroupKey,
    S: StateValue,
    I: IntoIterator<Item = U>,
    F: FnMut(&K, &mut Option<S>, T) -> I,
{
    type Item = Event<U>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(event) = this.out.pop_front() {
                return Poll::Ready(Some(event));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            match this.restoring {
                Restoring::Pending => {
                    *this.restoring = start_restore(this.log, this.env, this.names);
                    continue;
                }
                Restoring::Running { restore, .. } => {
                    let restored = std::task::ready!(restore.as_mut().poll(cx));
                    *this.restoring = Restoring::Done;
                    let loaded = restored.map_err(|e| e.to_string()).and_then(|mut r| {
                        if let Some(log) = this.log.as_mut() {
                            log.attach_disk(r.disk.take());
                        }
                        load(r, this.slots, this.env, this.names)
                    });
                    if let Err(reason) = loaded {
                        fail(this.env, this.names, &reason);
                        *this.done = true;
                    }
                    continue;
                }
                Restoring::Done => {}
            }
            std::task::ready!(poll_sending(this.writing, this.env, cx));
            if let Some(log) = this.log.as_mut() {
                if let Poll::Ready(Err(reason)) = log.poll_checkpoint(cx) {
                    fail(this.env, this.names, &reason);
                    *this.done = true;
                    continue;
                }
                if let Some((record, ack)) = log.next_write() {
                    let producer = this.env.producer().expect("a changelog is only kept with a producer");
                    *this.writing = Some(producer.send(record, ack));
                    continue;
                }
            }
            let next = if *this.upstream_done {
                None
            } else {
                match this.upstream.as_mut().poll_next(cx) {
                    Poll::Ready(next) => Some(next),
                    Poll::Pending => None,
                }
            };
            let Some(next) = next else {
                // Nothing to take: write what became due, then wait for deliveries (or,
                // at the end of input, end once nothing waits any more).
                let Some(log) = this.log.as_mut() else {
                    if *this.upstream_done {
                        *this.done = true;
                        continue;
                    }
                    return Poll::Pending;
                };
                if let Err(reason) = maintain(log, this.slots, cx) {
                    fail(this.env, this.names, &reason);
                    *this.done = true;
                    continue;
                }
                if log.has_writes() {
                    continue;
                }
                if this.waiting.is_none() {
                    *this.waiting = log.deliveries(DELIVERY_WAIT);
                }
                match this.waiting.as_mut() {
                    Some(wait) => {
                        std::task::ready!(wait.as_mut().poll(cx));
                        *this.waiting = None;
                        continue;
                    }
                    None if *this.upstream_done => {
                        // An on-disk store applies its last writes and checkpoints first.
                        match log.poll_finish(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(reason)) => fail(this.env, this.names, &reason),
                            Poll::Ready(Ok(())) if log.has_writes() => continue,
                            Poll::Ready(Ok(())) => {}
                        }
                        *this.done = true;
                        continue;
                    }
                    None => return Poll::Pending,
                }
            };
            match next {
                Some(Event::Msg(msg)) => {
                    apply(
                        msg,
                        this.f,
                        this.slots,
                        this.log,
                        this.out,
                        this.names,
                        this.origins,
                        this.duplicates,
                        this.held,
                    )
                    .unwrap_or_else(|reason| {
                        fail(this.env, this.names, &reason);
                        *this.done = true;
                    });
                    *this.since_flush += 1;
                    if *this.since_flush >= FLUSH_EVERY {
                        *this.since_flush = 0;
                        if let Some(log) = this.log.as_mut() {
                            if let Err(reason) = maintain(log, this.slots, cx) {
                                fail(this.env, this.names, &reason);
                                *this.done = true;
                            }
                        }
                    }
                }
                Some(Event::Tick(t)) => this.out.push_back(Event::Tick(t)),
                None => *this.upstream_done = true,
            }
        }
    }
}

/// Queues the writes that became due, applies the acknowledged ones to the database (if
/// the store keeps one) and drops states from memory beyond the cache, keeping those the
/// database does not have yet.
fn maintain<K: GroupKey, S>(
    log: &mut Changelog,
    slots: &mut HashMap<K, Slot<S>>,
    cx: &mut Context<'_>,
) -> std::result::Result<(), String> {
    log.apply_acked()?;
    // A checkpoint it started is polled now, so that its end wakes the task.
    if let Poll::Ready(Err(reason)) = log.poll_checkpoint(cx) {
        return Err(reason);
    }
    log.flush(0);
    let Some(cache) = log.cache() else {
        return Ok(());
    };
    if slots.len() > cache {
        let mut excess = slots.len() - cache * 9 / 10;
        slots.retain(|_, slot| {
            let evictable = excess > 0 && !log.is_pending(&changelog_key(&slot.log_key));
            if evictable {
                excess -= 1;
            }
            !evictable
        });
    }
    Ok(())
}

/// Applies one record: skipped if its key's state already reflects it, else `f` runs and
/// the new state is written once the outputs were delivered.
#[allow(clippy::too_many_arguments)]
fn apply<K, T, S, U, I, F>(
    msg: Msg<(K, T)>,
    f: &mut F,
    slots: &mut HashMap<K, Slot<S>>,
    log: &mut Option<Changelog>,
    out: &mut VecDeque<Event<U>>,
    names: &Names,
    origins: &mut OriginCounter,
    duplicates: &::metrics::Counter,
    held: &mut Vec<Ack>,
) -> std::result::Result<(), String>
where
    K: GroupKey,
    S: StateValue,
    I: IntoIterator<Item = U>,
    F: FnMut(&K, &mut Option<S>, T) -> I,
{
    let Msg { record, mut ack } = msg;
    let origin = origin_of(&record.meta, &record.headers, &names.trusted, origins);
    let (key, value) = record.value;
    if !slots.contains_key(&key) {
        let log_key = record.key.clone().unwrap_or_else(|| key.to_key_bytes());
        // On disk: the key's state may be in the database only.
        let stored = match log.as_ref().and_then(Changelog::disk) {
            Some(disk) => disk.get(&changelog_key(&log_key))?,
            None => None,
        };
        let slot = match stored {
            Some(value) => {
                let value: SlotValue<S> = serde_json::from_slice(&value).map_err(|e| format!("a stored state: {e}"))?;
                Slot {
                    state: value.s.map(|(s,)| s),
                    origins: value.o,
                    log_key,
                    key_bytes: record.key.clone(),
                }
            }
            None => Slot {
                state: None,
                origins: Origins::default(),
                log_key,
                key_bytes: record.key.clone(),
            },
        };
        slots.insert(key.clone(), slot);
    }
    let slot = slots.get_mut(&key).expect("inserted");
    if log.is_some() {
        if let Some(o) = origin.as_ref() {
            if slot.origins.covers(o) {
                duplicates.increment(1);
                return Ok(());
            }
            slot.origins.advance(o);
        }
    }
    let outputs = f(&key, &mut slot.state, value);
    let out_key = slot.key_bytes.clone().or_else(|| Some(slot.log_key.clone()));
    let output = |value: U, ack: Ack| {
        let record = Record {
            key: out_key.clone(),
            value,
            headers: Headers::new(),
            meta: record.meta.clone(),
        };
        Event::Msg(Msg::new(record, ack))
    };
    let Some(log) = log.as_mut() else {
        out.extend(outputs.into_iter().map(|u| output(u, ack.share())));
        return Ok(());
    };
    let encoded = match serde_json::to_vec(&SlotRef {
        s: slot.state.as_ref().map(|s| (s,)),
        o: &slot.origins,
    }) {
        Ok(v) => Bytes::from(v),
        Err(e) => {
            held.push(ack);
            return Err(format!("a state could not be written to the changelog: {e}"));
        }
    };
    let (mut delivered, n) = log.emission();
    out.extend(outputs.into_iter().map(|u| output(u, delivered.share())));
    drop(delivered);
    log.write_after_acked(n, changelog_key(&slot.log_key), Some(encoded), ack);
    Ok(())
}

/// Attaches the changelog and starts reading it back, in a running app.
fn start_restore(log: &mut Option<Changelog>, env: &TaskEnv, names: &Names) -> Restoring {
    let attach = |changelog: Changelog| {
        *log = Some(changelog.without_marks());
        true
    };
    Restoring::start(env, &names.store, names.changelog.as_deref(), true, attach).unwrap_or_else(|reason| {
        fail(env, names, reason);
        Restoring::Done
    })
}

/// Loads the restored states.
fn load<K: GroupKey, S: StateValue>(
    restored: Restored,
    slots: &mut HashMap<K, Slot<S>>,
    env: &TaskEnv,
    names: &Names,
) -> std::result::Result<(), String> {
    let (records, took, keys) = (restored.records, restored.took, restored.entries.len());
    for (ckey, value) in restored.entries {
        let Some((&KEYED, key_bytes)) = ckey.split_first() else {
            return Err(format!("changelog key {ckey:?} is not a keyed state's"));
        };
        let key = K::from_key_bytes(key_bytes).map_err(|e| format!("a restored state key: {e}"))?;
        let value: SlotValue<S> = serde_json::from_slice(&value).map_err(|e| format!("a restored state: {e}"))?;
        let slot = Slot {
            state: value.s.map(|(s,)| s),
            origins: value.o,
            log_key: Bytes::copy_from_slice(key_bytes),
            key_bytes: None,
        };
        slots.insert(key, slot);
    }
    metrics::state_restore_records(env.name(), &names.store).increment(records);
    metrics::state_restore_seconds(env.name(), &names.store).record(took.as_secs_f64());
    tracing::info!(
        processor = %env.name(),
        store = %names.store,
        partition = env.partition().map_or(-1, |p| p.0),
        records,
        keys,
        seconds = took.as_secs_f64(),
        "restored state"
    );
    Ok(())
}

/// Stops the app: the store cannot go on.
fn fail(env: &TaskEnv, names: &Names, reason: &str) {
    let message = format!("processor `{}` state store `{}`: {reason}", env.name(), names.store);
    env.recovery().stop(Fatal::new(message));
}
