//! A flow grouped by key: what [`Flow::group_by`] and [`Flow::group_by_key`] return.
//! Windowing it (`Grouped::window`) lives in [`crate::window`], the layer above.

use super::Flow;

/// A flow grouped by key (from [`Flow::group_by`] or [`Flow::group_by_key`]): next, pick a
/// window with [`Grouped::window`] (see [`crate::window`]).
#[must_use = "a grouped flow does nothing until windowed and aggregated"]
pub struct Grouped<K, T> {
    flow: Flow<(K, T)>,
}

impl<K, T> Grouped<K, T> {
    pub(crate) fn new(flow: Flow<(K, T)>) -> Self {
        Grouped { flow }
    }

    /// The grouped records as `(key, value)` pairs.
    pub fn into_flow(self) -> Flow<(K, T)> {
        self.flow
    }
}
