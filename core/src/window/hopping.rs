use std::time::Duration;

use super::fixed::FixedStore;
use super::{millis, WindowKind, WindowValue};
use crate::key::GroupKey;

/// Fixed-size windows that start every `advance`, so they overlap when `advance < size`:
/// a record is in `size / advance` windows (values are cloned into each).
///
/// ```
/// use std::time::Duration;
/// use kflow_core::window::Hopping;
/// let w = Hopping::of(Duration::from_secs(60), Duration::from_secs(20));
/// assert_eq!(w.windows_per_record(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hopping {
    size: i64,
    advance: i64,
    grace: i64,
}

impl Hopping {
    /// Windows of `size` starting every `advance` (both at least 1 ms; `advance` at most
    /// `size`).
    pub fn of(size: Duration, advance: Duration) -> Self {
        let size = millis(size).max(1);
        Hopping {
            size,
            advance: millis(advance).clamp(1, size),
            grace: 0,
        }
    }

    /// How long after a window's end records are still accepted into it.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = millis(grace);
        self
    }

    /// How many windows each record falls into (rounded up).
    pub fn windows_per_record(&self) -> i64 {
        (self.size + self.advance - 1) / self.advance
    }
}

impl<K: GroupKey, T: Clone + Send + 'static> WindowKind<K, T> for Hopping {
    type Store<A: WindowValue> = FixedStore<K, T, A>;

    fn store<A: WindowValue>(&self) -> Self::Store<A> {
        FixedStore::new(self.size, self.advance, self.grace, Some(T::clone))
    }

    fn name(&self) -> &'static str {
        "hopping"
    }
}

impl super::sealed::Sealed for Hopping {}
