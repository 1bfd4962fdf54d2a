//! Commit tracking: the [`Ack`] that travels with every record and the per-partition
//! [`OffsetTracker`] whose frontier is what gets committed.
//!
//! An `Ack` is released when it is dropped. Combinators follow one rule each: a filter
//! drops it (released: the record was handled), a map moves it, a flat_map shares it among
//! its outputs ([`Ack::share`]), a window keeps the acks of everything it holds and hands
//! them to its result ([`Ack::merge`]), and a sink drops it once the broker acknowledged
//! the write. An ack dropped while its thread is panicking is not released: it freezes its
//! partition's frontier instead, so a crash never commits past unfinished work.

mod holds;
mod tracker;

use std::sync::Arc;

pub use holds::{Hold, Holds};
use tracker::Chunk;
pub use tracker::{OffsetTracker, TrackerHandle};

/// The acknowledgement of one or more input offsets. Dropping it releases them.
///
/// ```
/// use kflow_core::ack::{Ack, OffsetTracker};
/// use kflow_core::{Offset, TopicPartition};
///
/// let mut tracker = OffsetTracker::new(TopicPartition::new("t", 0));
/// let handle = tracker.handle();
/// let mut ack = tracker.track(Offset(0));
/// let copy = ack.share(); // e.g. one input, two outputs
/// drop(ack);
/// assert_eq!(handle.frontier(), Some(Offset(0))); // one output still in flight
/// drop(copy);
/// assert_eq!(handle.frontier(), Some(Offset(1)));
/// ```
#[must_use = "dropping an Ack releases its offsets: hand it on with the record instead"]
pub struct Ack {
    inner: Inner,
}

enum Inner {
    None,
    Bit(Arc<Chunk>, u32),
    Shared(Arc<Ack>),
    Many(Vec<Ack>),
}

impl Ack {
    /// An ack that tracks nothing (for records that did not come from a tracked source).
    pub fn none() -> Ack {
        Ack { inner: Inner::None }
    }

    pub(crate) fn from_bit(chunk: Arc<Chunk>, bit: u32) -> Ack {
        Ack {
            inner: Inner::Bit(chunk, bit),
        }
    }

    /// One ack that releases all of `acks` when it is released (a window result, a batch).
    pub fn merge(mut acks: Vec<Ack>) -> Ack {
        acks.retain(|a| !matches!(a.inner, Inner::None));
        match acks.len() {
            0 => Ack::none(),
            1 => acks.pop().expect("one ack"),
            _ => Ack {
                inner: Inner::Many(acks),
            },
        }
    }

    /// Returns another ack for the same offsets; they are released when this ack and every
    /// share of it are. The first share costs one allocation; later ones are a clone.
    pub fn share(&mut self) -> Ack {
        match &self.inner {
            Inner::None => Ack::none(),
            Inner::Shared(arc) => Ack {
                inner: Inner::Shared(arc.clone()),
            },
            _ => {
                let taken = std::mem::replace(&mut self.inner, Inner::None);
                let arc = Arc::new(Ack { inner: taken });
                self.inner = Inner::Shared(arc.clone());
                Ack {
                    inner: Inner::Shared(arc),
                }
            }
        }
    }

    /// Another reference to an ack that was already shared with [`Ack::share`]; `None`
    /// stays `None`.
    ///
    /// # Panics
    /// If the ack was never shared: a plain ack has a single owner.
    pub(crate) fn shared_clone(&self) -> Ack {
        match &self.inner {
            Inner::None => Ack::none(),
            Inner::Shared(arc) => Ack {
                inner: Inner::Shared(arc.clone()),
            },
            _ => panic!("shared_clone of an ack that was not shared"),
        }
    }

    /// Marks the work as failed: the partition's frontier freezes at or before these
    /// offsets, so nothing past them is committed, and the reason is kept for the runtime.
    pub fn fail(self, reason: &str) {
        self.poison(reason);
    }

    /// The input partition and offset this ack holds (the first, for a merged ack):
    /// where a record built from that input came from. `None` for [`Ack::none`].
    ///
    /// ```
    /// use kflow_core::ack::{Ack, OffsetTracker};
    /// use kflow_core::{Offset, TopicPartition};
    /// let mut tracker = OffsetTracker::new(TopicPartition::new("orders", 2));
    /// let ack = tracker.track(Offset(7));
    /// assert_eq!(ack.origin(), Some((TopicPartition::new("orders", 2), Offset(7))));
    /// assert_eq!(Ack::none().origin(), None);
    /// ```
    pub fn origin(&self) -> Option<(crate::record::TopicPartition, crate::record::Offset)> {
        match &self.inner {
            Inner::None => None,
            Inner::Bit(chunk, bit) => Some(chunk.origin(*bit)),
            Inner::Shared(arc) => arc.origin(),
            Inner::Many(acks) => acks.iter().find_map(Ack::origin),
        }
    }

    /// True when this ack tracks no offset.
    pub fn is_none(&self) -> bool {
        matches!(self.inner, Inner::None)
    }

    fn poison(&self, reason: &str) {
        match &self.inner {
            Inner::None => {}
            Inner::Bit(chunk, bit) => chunk.poison(*bit, reason),
            Inner::Shared(arc) => arc.poison(reason),
            Inner::Many(acks) => acks.iter().for_each(|a| a.poison(reason)),
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.poison("dropped while panicking");
            return;
        }
        if let Inner::Bit(chunk, bit) = &self.inner {
            chunk.release(*bit);
        }
        // Shared and Many release through their own drops.
    }
}

impl Default for Ack {
    fn default() -> Self {
        Ack::none()
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::None => f.write_str("Ack(none)"),
            Inner::Bit(_, bit) => write!(f, "Ack(bit {bit})"),
            Inner::Shared(_) => f.write_str("Ack(shared)"),
            Inner::Many(v) => write!(f, "Ack({} merged)", v.len()),
        }
    }
}
