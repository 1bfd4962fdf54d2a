//! Records a producer can never write, handed back instead of failing their input.
//!
//! Most write errors are the broker's or the network's: the client retries them, and one
//! that outlasts its retries fails the record's ack (nothing past it commits; the app
//! stops). A few are the record's own fault and would fail again on every restart: a
//! record larger than the client or the broker accepts, or one the broker calls invalid.
//! For those, the runtime passes a [`Rejected`] handler with the record; the producer
//! hands the record back to it with its ack, and the unit's produce-error policy decides
//! (by default: dead-letter it without its value, count it, go on).

use crate::ack::Ack;

use super::OutRecord;

/// Why a producer rejected a record for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The client's or broker's reason.
    pub reason: String,
    /// The record is too large (its value is the likely cause): a dead letter carries no
    /// value.
    pub too_large: bool,
    /// The value's size in bytes when the record was handed back without it (a producer
    /// need not copy a value that will not be written).
    pub value_size: Option<usize>,
}

/// Takes back records a producer can never write (see the module docs).
///
/// Called from whatever thread learns of the rejection (for Kafka, the producer's
/// delivery thread): an implementation must not block.
pub trait Rejected: Send + Sync + 'static {
    /// `record` could not be written, for good; `ack` is its input's ack, not yet
    /// released or failed.
    fn rejected(&self, record: OutRecord, ack: Ack, rejection: Rejection);
}
