use std::time::Duration;

use super::fixed::FixedStore;
use super::{millis, WindowKind, WindowValue};
use crate::key::GroupKey;

/// Fixed-size, non-overlapping windows aligned to the epoch: `[0, size)`, `[size, 2·size)`, …
/// Each record is in exactly one window.
///
/// ```
/// use std::time::Duration;
/// use kflow_core::window::Tumbling;
/// let w = Tumbling::of(Duration::from_secs(60)).grace(Duration::from_secs(5));
/// assert_eq!(w.size_ms(), 60_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tumbling {
    size: i64,
    grace: i64,
}

impl Tumbling {
    /// Windows of `size` (at least 1 ms), no grace.
    pub fn of(size: Duration) -> Self {
        Tumbling {
            size: millis(size).max(1),
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

impl<K: GroupKey, T: Send + 'static> WindowKind<K, T> for Tumbling {
    type Store<A: WindowValue> = FixedStore<K, T, A>;

    fn store<A: WindowValue>(&self) -> Self::Store<A> {
        FixedStore::new(self.size, self.size, self.grace, None)
    }

    fn name(&self) -> &'static str {
        "tumbling"
    }
}

impl super::sealed::Sealed for Tumbling {}
