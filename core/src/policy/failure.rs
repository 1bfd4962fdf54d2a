//! A record's failure in one delivery, and the errors operations fail with.

use std::fmt::Display;

use crate::error::ErrorKind;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A record's failure in one delivery: what failed, how often, when.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    /// Attempts in this delivery.
    pub attempts: u32,
    pub first: i64,
    pub last: i64,
    /// Not the record's fault (see [`crate::codec::DecodeError::transient`]): the app
    /// stops instead of dead-lettering or skipping it.
    pub transient: bool,
}

impl Failure {
    /// A single failed attempt, now.
    pub fn once(kind: ErrorKind, error: &dyn Display) -> Self {
        let now = now_ms();
        Failure {
            kind,
            message: error.to_string(),
            attempts: 1,
            first: now,
            last: now,
            transient: false,
        }
    }
}

/// An error an operation failed with.
pub(crate) trait Cause: Display {
    /// See [`Failure::transient`].
    fn transient(&self) -> bool {
        false
    }
}

impl Cause for String {}

impl Cause for crate::codec::DecodeError {
    fn transient(&self) -> bool {
        self.transient
    }
}
