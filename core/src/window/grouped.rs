use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::operator::{IdleAdvance, LateTopic, WindowAggregate, WindowNames};
use super::store::Aggregator;
use super::{EmitMode, EveryUpdate, Final, WindowKind, WindowResult, WindowValue};
use crate::codec::{Encode, Json};
use crate::flow::{Flow, Grouped};
use crate::key::GroupKey;

impl<K: GroupKey, T: Send + 'static> Grouped<K, T> {
    /// Windows the groups by event time (see [`crate::window`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kflow_core::{Flow, Record, window::Tumbling};
    /// let words = ["a", "b", "a"].map(|w| Record::new(w.to_string()).with_timestamp(1_000));
    /// let counts = Flow::from_records(words)
    ///     .group_by(|w| w.clone())
    ///     .window(Tumbling::of(Duration::from_secs(60)))
    ///     .count();
    /// // Windows emit when they close; a detached flow's windows close on ticks or not at all.
    /// # drop(counts);
    /// ```
    pub fn window<W: WindowKind<K, T>>(self, kind: W) -> Windowed<K, T, W, Final> {
        Windowed {
            flow: self.into_flow(),
            kind,
            late: None,
            idle: None,
            _mode: PhantomData,
        }
    }
}

/// A windowed, grouped flow: finish it with [`Windowed::aggregate`], [`Windowed::reduce`]
/// or [`Windowed::count`].
#[must_use = "a windowed flow does nothing until aggregated"]
pub struct Windowed<K, T, W, M = Final> {
    flow: Flow<(K, T)>,
    kind: W,
    late: Option<LateTopic<T>>,
    idle: Option<Duration>,
    _mode: PhantomData<M>,
}

impl<K, T, W, M> Windowed<K, T, W, M>
where
    K: GroupKey,
    T: Send + 'static,
    W: WindowKind<K, T>,
    M: Send + 'static,
{
    /// Emits the updated aggregate after every record instead of once at close. Each
    /// update carries the ack of the record that caused it; the window still holds all its
    /// acks until it closes.
    pub fn emit_every_update(self) -> Windowed<K, T, W, EveryUpdate> {
        Windowed {
            flow: self.flow,
            kind: self.kind,
            late: self.late,
            idle: self.idle,
            _mode: PhantomData,
        }
    }

    /// Sends late records (as JSON, with their original key and timestamp) to `topic`
    /// instead of only counting them; their offsets commit once written.
    pub fn late_to(mut self, topic: &str) -> Self
    where
        T: Serialize,
    {
        self.flow.build.add_late(topic);
        self.late = Some(LateTopic {
            topic: Arc::from(topic),
            encode: |v| Json.encode(v),
        });
        self
    }

    /// Lets stream time follow the wall clock on a quiet task, so that windows on a topic
    /// that stops receiving records still close. Once this task's window operator has seen
    /// no record for `after` (wall-clock time), its stream time becomes the stream time of
    /// the last record plus the wall-clock time since that record arrived, and advances
    /// so every `after` while the task stays idle.
    ///
    /// Off by default: stream time then moves only with records, so a partition's last
    /// windows stay open (holding their records' offsets) until a newer record arrives.
    /// With it, a record that arrives after the wall clock closed its window is late. It
    /// assumes event time runs roughly with the wall clock; replays after a restart run
    /// without idle gaps and close windows by records again.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kflow_core::{Flow, window::Tumbling};
    /// fn counts(f: Flow<u64>) -> Flow<kflow_core::window::WindowResult<String, u64>> {
    ///     f.group_by_key::<String>()
    ///         .window(Tumbling::of(Duration::from_secs(60)))
    ///         .idle_advance(Duration::from_secs(30))
    ///         .count()
    /// }
    /// # let _ = counts;
    /// ```
    pub fn idle_advance(mut self, after: Duration) -> Self {
        self.idle = Some(after);
        self
    }

    /// Folds each window's records into an aggregate: `init` makes an empty one, `fold`
    /// adds a value. Emits [`WindowResult`]s carrying key, window bounds and aggregate.
    pub fn aggregate<A, I, F>(self, init: I, fold: F) -> Flow<WindowResult<K, A>>
    where
        A: WindowValue,
        M: EmitMode<A>,
        I: Fn() -> A + Send + 'static,
        F: FnMut(&mut A, T) + Send + 'static,
    {
        let agg = Aggregator {
            init: Box::new(init),
            fold: Box::new(fold),
            snapshot: M::snapshot(),
        };
        let store = self.kind.store::<A>();
        let late = self.late;
        let build = self.flow.build.clone();
        let trusted = build.repartition_topics();
        let (name, changelog) = build.add_window(self.kind.name());
        let names = WindowNames {
            store: name,
            changelog,
            trusted,
        };
        let idle = self.idle.map(IdleAdvance::new);
        let stream = WindowAggregate::new(self.flow.stream, store, agg, late, idle, names, build.env());
        Flow::new(stream, build)
    }

    /// Combines each window's values pairwise with `f`.
    pub fn reduce<F>(self, mut f: F) -> Flow<WindowResult<K, T>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        M: EmitMode<Option<T>>,
        F: FnMut(T, T) -> T + Send + 'static,
    {
        self.aggregate(
            || None,
            move |acc: &mut Option<T>, v| {
                *acc = Some(match acc.take() {
                    Some(a) => f(a, v),
                    None => v,
                });
            },
        )
        .map(|w| w.map_value(|v| v.expect("a window has at least one record")))
    }

    /// Counts each window's records.
    pub fn count(self) -> Flow<WindowResult<K, u64>>
    where
        M: EmitMode<u64>,
    {
        self.aggregate(|| 0u64, |n, _| *n += 1)
    }
}
