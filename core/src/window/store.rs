//! What every window kind's state implements.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{Window, WindowResult};
use crate::ack::Ack;
use crate::event::{Event, Msg};
use crate::flow::Origin;
use crate::record::{Headers, Meta, Record, Timestamp};
use crate::state::changelog::Changelog;
use crate::state::restore::Restored;

/// A grouped record entering a window operator.
pub struct Entry<K, T> {
    /// Grouping key.
    pub key: K,
    /// Its bytes (the output record's key).
    pub key_bytes: Option<Bytes>,
    /// Value.
    pub value: T,
    /// Metadata; `meta.timestamp` is the event time.
    pub meta: Meta,
    /// Ack.
    pub ack: Ack,
}

type FoldFn<T, A> = Box<dyn FnMut(&mut A, T) + Send>;

/// The user's aggregation: initial value, fold, and (every-update mode) a snapshot copier.
pub struct Aggregator<T, A> {
    pub(crate) init: Box<dyn Fn() -> A + Send>,
    pub(crate) fold: FoldFn<T, A>,
    pub(crate) snapshot: Option<fn(&A) -> A>,
}

impl<T, A> Aggregator<T, A> {
    /// Folds `values` into a fresh aggregate.
    pub(crate) fn fold_all(&mut self, values: impl IntoIterator<Item = T>) -> A {
        let mut acc = (self.init)();
        for v in values {
            (self.fold)(&mut acc, v);
        }
        acc
    }
}

/// What became of an inserted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Folded into at least one window.
    Applied,
    /// Every open window it belongs to already reflects it (its origin is covered): a
    /// replay or a duplicate. Its ack was released.
    Duplicate,
}

/// The state of open windows of one kind.
pub trait WindowStore<K, T, A>: Send + 'static {
    /// Adds a record at `stream_time` (already including it), whose origin is `origin`
    /// (`None`: never a duplicate). Returns the entry back if it is late (every window it
    /// belongs to has closed). In every-update mode, pushes the updated windows to `out`.
    fn insert(
        &mut self,
        entry: Entry<K, T>,
        origin: Option<&Origin>,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> Result<Inserted, Entry<K, T>>;

    /// Emits (final mode) and forgets every window closed at `stream_time`; returns how
    /// many results it emitted.
    fn close(
        &mut self,
        stream_time: Timestamp,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> usize;

    /// Keeps the store in `log` from now on; false if this kind of store keeps its state
    /// in memory only (rebuilt by replay).
    fn attach(&mut self, log: Changelog) -> bool {
        drop(log);
        false
    }

    /// The changelog, once attached.
    fn changelog(&mut self) -> Option<&mut Changelog> {
        None
    }

    /// Whether this store can keep its state on disk (see [`crate::App::state_dir`]).
    fn on_disk(&self) -> bool {
        false
    }

    /// How many slots changed since they were last written.
    fn dirty(&self) -> usize {
        0
    }

    /// Queues the changed slots' new values (and due deletions) to the changelog.
    fn flush(&mut self, stream_time: Timestamp) -> Result<(), String> {
        let _ = stream_time;
        Ok(())
    }

    /// Loads restored slots (before any record). In every-update mode, emits each one's
    /// value again (a result in flight at a crash may have been lost); returns how many.
    fn restore(
        &mut self,
        restored: Restored,
        agg: &mut Aggregator<T, A>,
        out: &mut VecDeque<Event<WindowResult<K, A>>>,
    ) -> Result<usize, String> {
        let _ = (restored, agg, out);
        Ok(0)
    }
}

/// Builds the output event of a window.
pub(crate) fn result_event<K: crate::key::GroupKey, A>(
    key: K,
    key_bytes: Option<Bytes>,
    window: Window,
    value: A,
    mut meta: Meta,
    max_ts: Timestamp,
    ack: Ack,
) -> Event<WindowResult<K, A>> {
    meta.timestamp = max_ts;
    let record = Record {
        key: key_bytes.or_else(|| Some(key.to_key_bytes())),
        value: WindowResult { key, window, value },
        headers: Headers::new(),
        meta,
    };
    Event::Msg(Msg::new(record, ack))
}
