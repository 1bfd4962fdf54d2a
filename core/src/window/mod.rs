//! Windows on event time: tumbling, hopping, sliding and session, with grace, late-record
//! routing and two emit modes.
//!
//! Stream time is the highest event time (record timestamp, or what
//! [`crate::Flow::with_timestamp`] set) a window operator has seen, per partition task. A
//! window covers `[start, end)`; it closes when stream time reaches `end + grace`. A
//! record whose windows are all closed is *late*: counted as `late` and dropped, or sent
//! to a topic with [`Windowed::late_to`]; its offset still commits. In the default emit
//! mode ([`Final`]) a window emits once, when it closes, and holds the acks of its records
//! until its result is acknowledged, so a restart rebuilds it by replay. With
//! [`Windowed::emit_every_update`] each record emits the window's updated value.

mod fixed;
mod grouped;
mod hopping;
mod kept;
mod operator;
mod session;
mod sliding;
mod store;
mod tumbling;

use std::time::Duration;

pub use crate::flow::Grouped;
pub use grouped::Windowed;
pub use hopping::Hopping;
pub use session::Session;
pub use sliding::Sliding;
use store::WindowStore;
pub use tumbling::Tumbling;

use crate::record::Timestamp;

/// The bounds of a window: `[start, end)` in milliseconds of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// First millisecond inside the window.
    pub start: Timestamp,
    /// First millisecond after it.
    pub end: Timestamp,
}

/// What a window emits: its key, its bounds and its aggregate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowResult<K, V> {
    /// The grouping key.
    pub key: K,
    /// The window.
    pub window: Window,
    /// The aggregate.
    pub value: V,
}

impl<K, V> WindowResult<K, V> {
    /// Replaces the value.
    pub fn map_value<U>(self, f: impl FnOnce(V) -> U) -> WindowResult<K, U> {
        WindowResult {
            key: self.key,
            window: self.window,
            value: f(self.value),
        }
    }
}

mod sealed {
    /// Only kflow's window kinds are window kinds.
    pub trait Sealed {}
}

/// A kind of window: how records are assigned to windows and when they close.
/// Implemented by [`Tumbling`], [`Hopping`], [`Sliding`] and [`Session`] (sealed).
pub trait WindowKind<K, T>: sealed::Sealed + Send + 'static {
    /// The state kept for open windows.
    #[doc(hidden)]
    type Store<A: WindowValue>: WindowStore<K, T, A>;
    /// An empty store.
    #[doc(hidden)]
    fn store<A: WindowValue>(&self) -> Self::Store<A>;
    /// The kind's name (`tumbling`, `hopping`, `sliding`, `session`), for topologies.
    fn name(&self) -> &'static str;
}

/// What a window aggregate must be: it is written to the window's changelog (as JSON) and
/// read back on restore. Implemented for every serde type that is `Send + 'static`.
pub trait WindowValue: serde::Serialize + serde::de::DeserializeOwned + Send + 'static {}

impl<A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static> WindowValue for A {}

/// Emit mode: once per window, when it closes (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Final;

/// Emit mode: the updated aggregate after every record.
#[derive(Debug, Clone, Copy, Default)]
pub struct EveryUpdate;

/// How an emit mode snapshots an aggregate (every-update needs `A: Clone`). Implemented by
/// [`Final`] and [`EveryUpdate`].
pub trait EmitMode<A>: Send + 'static {
    /// `None` for final mode; a copier for every-update mode.
    fn snapshot() -> Option<fn(&A) -> A>;
}

impl<A> EmitMode<A> for Final {
    fn snapshot() -> Option<fn(&A) -> A> {
        None
    }
}

impl<A: Clone> EmitMode<A> for EveryUpdate {
    fn snapshot() -> Option<fn(&A) -> A> {
        Some(A::clone)
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
