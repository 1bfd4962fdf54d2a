//! What flows between a pipeline's stages: records with their acks, and stream-time
//! ticks.

mod tracked;

use bytes::Bytes;

use crate::ack::Ack;
use crate::record::{Record, Timestamp};
pub use tracked::{tracked, Hold, BUDGET};

/// A record and the acknowledgement of the input offsets it came from.
#[derive(Debug)]
pub struct Msg<T> {
    /// The record.
    pub record: Record<T>,
    /// Released when this record's work is done (see [`crate::ack`]).
    pub ack: Ack,
}

impl<T> Msg<T> {
    /// A message with the given record and ack.
    pub fn new(record: Record<T>, ack: Ack) -> Self {
        Msg { record, ack }
    }

    /// Replaces the value, keeping key, headers, metadata and ack.
    pub fn map_value<U>(self, f: impl FnOnce(T) -> U) -> Msg<U> {
        Msg {
            record: self.record.map_value(f),
            ack: self.ack,
        }
    }
}

/// A record as read from a partition: value bytes (`None` for a tombstone) and its ack.
pub type RawMsg = Msg<Option<Bytes>>;

/// What flows between combinators: a record, or a stream-time tick.
#[derive(Debug)]
pub enum Event<T> {
    /// A record with its ack.
    Msg(Msg<T>),
    /// Stream time has reached this timestamp (from the test driver or the runtime):
    /// windows that end before it (plus grace) close. Passed on by every combinator.
    Tick(Timestamp),
}
