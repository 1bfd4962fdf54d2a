//! Errors and error kinds (the policies for them are in [`crate::policy`]).

use std::fmt;

mod fatal;

use crate::codec::{DecodeError, EncodeError};
pub use fatal::Fatal;

/// The cause an error keeps: the client's, the broker's or the codec's own error.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can stop a kflow app or fail one of its operations. Each variant names
/// what it is about (a key, a topic, a group, a component) in fields, and keeps the error
/// it came from as its `source()`; its message already includes that error's text.
///
/// ```
/// use std::error::Error as _;
/// use kflow_core::Error;
/// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
/// let err = Error::transport("consumer of group `billing`", "cannot reach the broker").caused_by(io);
/// assert_eq!(err.to_string(), "transport (consumer of group `billing`): cannot reach the broker: timed out");
/// assert_eq!(err.source().unwrap().to_string(), "timed out");
/// ```
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
    #[error("topic `{topic}`: {reason}{}", with(source))]
    Topic {
        /// The topic.
        topic: String,
        /// kflow's reason.
        reason: String,
        /// The broker's or client's error.
        #[source]
        source: Option<Cause>,
    },
    /// A record could not be written.
    #[error("producing to `{topic}` failed: {reason}{}", with(source))]
    Produce {
        /// The topic written to.
        topic: String,
        /// kflow's reason.
        reason: String,
        /// The client's error.
        #[source]
        source: Option<Cause>,
    },
    /// An offset commit failed (for example because the group rebalanced).
    #[error("offset commit of group `{group}` failed{}", with(source))]
    Commit {
        /// The consumer group.
        group: String,
        /// The client's error.
        #[source]
        source: Option<Cause>,
    },
    /// A consumer-group operation failed or is not allowed (for example an offset reset
    /// while the group has active members).
    #[error("group `{group}`: {reason}{}", with(source))]
    Group {
        /// The group.
        group: String,
        /// What went wrong.
        reason: String,
        /// The client's error.
        #[source]
        source: Option<Cause>,
    },
    /// A transaction could not begin, commit or abort.
    #[error("transaction `{id}`: {step}{}", with(source))]
    Transaction {
        /// The transactional id.
        id: String,
        /// What failed, and what to do next.
        step: String,
        /// The client's error.
        #[source]
        source: Option<Cause>,
    },
    /// The transport failed (broker unreachable, consumer closed, a client thread that
    /// died, ...).
    #[error("transport ({what}): {reason}{}", with(source))]
    Transport {
        /// The part that failed: a client, a group's consumer, a broker address.
        what: String,
        /// What happened.
        reason: String,
        /// The client's error.
        #[source]
        source: Option<Cause>,
    },
    /// The app stopped: a record's processing failed under the `fail` policy, a task
    /// panicked, a write failed for good, a client failed fatally. Nothing past the
    /// cause was committed.
    #[error("processing stopped: {0}")]
    Processing(#[from] Fatal),
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

/// `: <cause>` when there is one.
fn with(source: &Option<Cause>) -> String {
    source.as_ref().map_or_else(String::new, |s| format!(": {s}"))
}

impl Error {
    /// [`Error::Config`].
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// [`Error::Topic`], without a cause yet (see [`Error::caused_by`]).
    pub fn topic(topic: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Topic {
            topic: topic.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`Error::Produce`], without a cause yet.
    pub fn produce(topic: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Produce {
            topic: topic.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`Error::Commit`], without a cause yet.
    pub fn commit(group: impl Into<String>) -> Self {
        Error::Commit {
            group: group.into(),
            source: None,
        }
    }

    /// [`Error::Group`], without a cause yet.
    pub fn group(group: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Group {
            group: group.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`Error::Transaction`], without a cause yet.
    pub fn transaction(id: impl Into<String>, step: impl Into<String>) -> Self {
        Error::Transaction {
            id: id.into(),
            step: step.into(),
            source: None,
        }
    }

    /// [`Error::Transport`], without a cause yet.
    pub fn transport(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Transport {
            what: what.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// Keeps `cause` as this error's source (for the variants that keep one; the others
    /// are returned as they are).
    pub fn caused_by(mut self, cause: impl Into<Cause>) -> Self {
        match &mut self {
            Error::Topic { source, .. }
            | Error::Produce { source, .. }
            | Error::Commit { source, .. }
            | Error::Group { source, .. }
            | Error::Transaction { source, .. }
            | Error::Transport { source, .. } => *source = Some(cause.into()),
            _ => {}
        }
        self
    }
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
