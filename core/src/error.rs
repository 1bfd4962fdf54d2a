//! Errors and error kinds (the policies for them are in [`crate::policy`]).

use std::fmt;

use crate::codec::{DecodeError, EncodeError};

/// Everything that can stop a kflow app or fail one of its operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing or invalid; `key` names it.
    #[error("invalid configuration `{key}`: {reason}")]
    Config {
        /// The configuration key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A topic is missing, could not be created, or does not fit.
    #[error("topic `{topic}`: {reason}")]
    Topic {
        /// The topic.
        topic: String,
        /// The broker's or kflow's reason.
        reason: String,
    },
    /// A record could not be written.
    #[error("producing to `{topic}` failed: {reason}")]
    Produce {
        /// The topic written to.
        topic: String,
        /// The reason.
        reason: String,
    },
    /// An offset commit failed (for example because the group rebalanced).
    #[error("offset commit failed: {0}")]
    Commit(String),
    /// A consumer-group operation failed or is not allowed (for example an offset reset
    /// while the group has active members).
    #[error("group `{group}`: {reason}")]
    Group {
        /// The group.
        group: String,
        /// What went wrong.
        reason: String,
    },
    /// A transaction could not begin, commit or abort; the text says what to do next.
    #[error("transaction: {0}")]
    Transaction(String),
    /// The transport failed (broker unreachable, consumer closed, ...).
    #[error("transport: {0}")]
    Transport(String),
    /// A record's processing failed under the `fail` policy, or a task panicked: the app
    /// stopped and nothing past that record was committed.
    #[error("processing stopped: {0}")]
    Processing(String),
    /// Bytes could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A value could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// An operating-system error (signals, sockets).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `Result` with kflow's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which step of a record's way failed: error policies are chosen per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The key or value could not be decoded.
    Deserialization,
    /// The handler returned an error (or panicked).
    Handler,
    /// An output could not be encoded.
    Serialization,
    /// An output could not be written.
    Produce,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Deserialization => "deserialization",
            ErrorKind::Handler => "handler",
            ErrorKind::Serialization => "serialization",
            ErrorKind::Produce => "produce",
        })
    }
}

/// The error a listener's handler returns. Any `std::error::Error` (and `String`/`&str`)
/// converts into it, so `?` works in handlers.
///
/// ```
/// use kflow_core::HandlerError;
/// fn parse(s: &str) -> Result<i32, HandlerError> {
///     Ok(s.parse::<i32>()?)
/// }
/// assert!(parse("x").unwrap_err().to_string().contains("invalid digit"));
/// let e: HandlerError = "out of stock".into();
/// assert_eq!(e.to_string(), "out of stock");
/// ```
pub struct HandlerError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl HandlerError {
    /// The underlying error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError(e.into())
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The message a panic carried (its `&str` or `String` payload), for errors and logs.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
/// assert_eq!(kflow_core::panic_message(&*caught), "boom 7");
/// ```
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}
