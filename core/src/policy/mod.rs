//! Error policies: what happens to a record whose processing failed.
//!
//! A policy is a small value built from composable steps, applied in this order:
//!
//! 1. [`retry`]`(max_attempts, backoff)`: call again in place, waiting between attempts;
//! 2. [`retry_topics`]`(delays)` (listeners): write the record to the listener's retry
//!    topic `<topic>.<group>.retry.<n>` (see [`retry_topic`]), or a shared tier named by
//!    its delay (`internal.retry.1min`, see [`Policy::shared_retry_topics`]), to be handled
//!    again once its delay has passed, without blocking the partition it came from;
//! 3. a final step: [`dead_letter`] (to `<topic>.dlq`), [`skip`] (counted) or [`fail`]
//!    (stop the app; nothing past the record commits).
//!
//! ```
//! use std::time::Duration;
//! use kflow_core::policy::{self, Backoff};
//! // The default for handler errors:
//! let p = policy::retry(4, Backoff::exponential(Duration::from_millis(100), 2.0)).then_dead_letter();
//! // Non-blocking retries after 1 s and 10 s, then the dead-letter topic:
//! let q = policy::retry_topics([Duration::from_secs(1), Duration::from_secs(10)]).then_dead_letter();
//! assert_ne!(p, q);
//! ```
//!
//! Policies are set per error kind ([`crate::ErrorKind`]) on listeners and processors
//! (`on_error`, `on_error_for`), or with the macros' `on_error = ...` argument.

mod backoff;
pub(crate) mod failure;
pub(crate) mod headers;
pub(crate) mod recovery;
pub(crate) mod rejections;
mod replay;

use std::time::Duration;

pub use backoff::Backoff;
pub use headers::{names, MAX_COPIED_HEADER_BYTES, MAX_ERROR_MESSAGE_BYTES};
pub use replay::{Replay, ReplayReport};

use crate::error::{Error, ErrorKind};

/// What happens to a failed record: optional in-place retries, optional retry topics, then
/// a final step. Build one with [`retry`], [`retry_topics`], [`dead_letter`], [`skip`] or
/// [`fail`].
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) retry: Option<Retry>,
    pub(crate) topics: Vec<Duration>,
    /// Retry topics shared by every topic and group, named by delay under this prefix
    /// (`None`: each group's own, per topic).
    pub(crate) shared_retry: Option<String>,
    pub(crate) last: Last,
}

/// In-place retries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retry {
    /// Attempts in all, the first call included.
    pub max_attempts: u32,
    pub backoff: Backoff,
}

/// The final step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Last {
    DeadLetter(DeadLetter),
    Skip,
    Fail,
}

/// Where and how dead-letter records are written.
///
/// ```
/// use kflow_core::policy::{self, DeadLetter};
/// let p = policy::dead_letter_with(DeadLetter::new().suffix(".DLT").spring_headers());
/// assert_eq!(p.dead_letter_topic("orders").as_deref(), Some("orders.DLT"));
/// let shared = policy::dead_letter_with(DeadLetter::new().topic("internal.dlq"));
/// assert_eq!(shared.dead_letter_topic("orders").as_deref(), Some("internal.dlq"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub(crate) suffix: String,
    pub(crate) spring: bool,
    /// One dead-letter topic for every source topic, instead of the suffix.
    pub(crate) shared: Option<String>,
}

impl Default for DeadLetter {
    fn default() -> Self {
        DeadLetter {
            suffix: ".dlq".into(),
            spring: false,
            shared: None,
        }
    }
}

impl DeadLetter {
    /// `<topic>.dlq`, kflow's headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The topic suffix (default `.dlq`).
    pub fn suffix(mut self, suffix: &str) -> Self {
        self.suffix = suffix.to_string();
        self
    }

    /// One dead-letter topic for records of every topic (e.g. `internal.dlq`), instead of
    /// `<topic><suffix>` per topic. The headers still name each record's own topic,
    /// partition and offset, so a replay writes each back where it came from.
    pub fn topic(mut self, topic: &str) -> Self {
        self.shared = Some(topic.to_string());
        self
    }

    /// The dead-letter topic of records read from `source`.
    pub(crate) fn topic_for(&self, source: &str) -> String {
        match &self.shared {
            Some(t) => t.clone(),
            None => format!("{source}{}", self.suffix),
        }
    }

    /// Writes Spring Kafka's `kafka_dlt-*` headers (binary big-endian numbers) instead of
    /// kflow's, for teams whose dead-letter tooling is Spring's.
    pub fn spring_headers(mut self) -> Self {
        self.spring = true;
        self
    }
}

/// Retry in place: at most `max_attempts` calls in all (the first included), waiting
/// `backoff` between them; then [`fail`] unless a `then_*` step follows.
pub fn retry(max_attempts: u32, backoff: Backoff) -> Policy {
    Policy {
        retry: Some(Retry { max_attempts, backoff }),
        topics: Vec::new(),
        shared_retry: None,
        last: Last::Fail,
    }
}

/// Non-blocking retries (listeners only): the failed record is written to the listener's
/// first retry topic (`<topic>.<group>.retry.1`, see [`retry_topic`]) and handled again
/// once `delays[0]` has passed, then to `.retry.2` after `delays[1]`, and so on; then
/// [`fail`] unless a `then_*` step follows.
pub fn retry_topics(delays: impl IntoIterator<Item = Duration>) -> Policy {
    Policy {
        retry: None,
        topics: delays.into_iter().collect(),
        shared_retry: None,
        last: Last::Fail,
    }
}

/// Write the record to `<topic>.dlq` with headers saying what failed; its offset commits
/// once that write is acknowledged.
pub fn dead_letter() -> Policy {
    dead_letter_with(DeadLetter::new())
}

/// [`dead_letter`] with another suffix or Spring's headers.
pub fn dead_letter_with(config: DeadLetter) -> Policy {
    Policy {
        retry: None,
        topics: Vec::new(),
        shared_retry: None,
        last: Last::DeadLetter(config),
    }
}

/// Log, count as `skipped` and go on.
pub fn skip() -> Policy {
    Policy {
        retry: None,
        topics: Vec::new(),
        shared_retry: None,
        last: Last::Skip,
    }
}

/// Stop the app; the record's offset and everything after it stay uncommitted, so a
/// restart handles it again.
pub fn fail() -> Policy {
    Policy {
        retry: None,
        topics: Vec::new(),
        shared_retry: None,
        last: Last::Fail,
    }
}

impl Policy {
    /// After in-place retries, go through retry topics with these delays.
    pub fn then_retry_topics(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.topics = delays.into_iter().collect();
        self
    }

    /// Puts the retry topics in shared tiers named by their delay, `<prefix>.<delay>`
    /// (`internal.retry.1min`, `internal.retry.10min`, see [`retry_tier`]), instead of
    /// `<topic>.<group>.retry.<n>` per topic and group: one set of retry topics for every
    /// input topic and every listener, as platforms that provision retry topics centrally
    /// lay them out. Records keep their origin and group in headers: a retry goes back
    /// through the listener that failed on it, and other listeners reading the same tier
    /// skip it (counted as `foreign_retry`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kflow_core::policy;
    /// let p = policy::retry_topics([Duration::from_secs(60), Duration::from_secs(600)])
    ///     .shared_retry_topics("internal.retry")
    ///     .then_dead_letter();
    /// assert_eq!(p.retry_topic_names("orders", "shop-billing"), ["internal.retry.1min", "internal.retry.10min"]);
    /// ```
    pub fn shared_retry_topics(mut self, prefix: &str) -> Self {
        self.shared_retry = Some(prefix.to_string());
        self
    }

    /// The retry topic of level `level` (from 1) for records of `topic` read by `group`.
    pub(crate) fn retry_topic_for(&self, topic: &str, group: &str, level: usize) -> String {
        match (&self.shared_retry, self.topics.get(level.saturating_sub(1))) {
            (Some(prefix), Some(delay)) => format!("{prefix}.{}", retry_tier(*delay)),
            _ => retry_topic(topic, group, level),
        }
    }

    /// Whether `topic` is one of this policy's shared retry tiers.
    pub(crate) fn is_shared_retry_topic(&self, topic: &str) -> bool {
        // Shared tiers' names depend on neither the record's topic nor the group.
        self.shared_retry.is_some() && self.retry_topic_names("", "").iter().any(|t| t == topic)
    }

    /// Ends in the dead-letter topic.
    pub fn then_dead_letter(self) -> Self {
        self.then_dead_letter_with(DeadLetter::new())
    }

    /// Ends in a dead-letter topic configured by `config`.
    pub fn then_dead_letter_with(mut self, config: DeadLetter) -> Self {
        self.last = Last::DeadLetter(config);
        self
    }

    /// Ends by skipping the record (counted).
    pub fn then_skip(mut self) -> Self {
        self.last = Last::Skip;
        self
    }

    /// Ends by stopping the app.
    pub fn then_fail(mut self) -> Self {
        self.last = Last::Fail;
        self
    }

    /// The dead-letter topic for records read from `topic`, if this policy ends there.
    pub fn dead_letter_topic(&self, topic: &str) -> Option<String> {
        match &self.last {
            Last::DeadLetter(d) => Some(d.topic_for(topic)),
            _ => None,
        }
    }

    /// The retry topics of consumer group `group` for records read from `topic`
    /// (`<topic>.<group>.retry.1`, ...).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kflow_core::policy;
    /// let p = policy::retry_topics([Duration::from_secs(1), Duration::from_secs(30)]);
    /// assert_eq!(p.retry_topic_names("orders", "shop-billing"), ["orders.shop-billing.retry.1", "orders.shop-billing.retry.2"]);
    /// ```
    pub fn retry_topic_names(&self, topic: &str, group: &str) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for n in 1..=self.topics.len() {
            let name = self.retry_topic_for(topic, group, n);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// True when this policy only stops the app.
    pub fn is_fail(&self) -> bool {
        self.retry.is_none() && self.topics.is_empty() && self.last == Last::Fail
    }

    /// Why this policy cannot be used for `kind` in a listener (`listener` true) or a
    /// processor, if it cannot.
    fn problem(&self, kind: ErrorKind, listener: bool) -> Option<String> {
        if kind == ErrorKind::Produce && (self.retry.is_some() || !self.topics.is_empty()) {
            return Some(
                "produce errors cannot be retried by kflow: the client already retries every write that can succeed (librdkafka `message.timeout.ms`), and only records it rejects for good (too large, invalid) reach this policy; use dead_letter(), skip() or fail()".into(),
            );
        }
        if let Some(retry) = &self.retry {
            if retry.max_attempts == 0 {
                return Some("retry max_attempts must be at least 1 (it counts the first call)".into());
            }
            if let Some(p) = retry.backoff.problem() {
                return Some(p);
            }
        }
        if !self.topics.is_empty() && !listener {
            return Some("retry topics need a listener (a processor's pipeline cannot take a record back in); use retry(..) and dead_letter()".into());
        }
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if let Some(prefix) = &self.shared_retry {
            if self.topics.is_empty() {
                return Some(
                    "shared retry topics need retry topics: `retry_topics([1m, 10m], shared = \"internal.retry\")`"
                        .into(),
                );
            }
            if prefix.is_empty() || !prefix.chars().all(valid) {
                return Some(format!(
                    "shared retry-topic prefix `{prefix}` must be non-empty and use only letters, digits, `.`, `_` and `-`"
                ));
            }
        }
        if let Last::DeadLetter(d) = &self.last {
            if d.suffix.is_empty() || !d.suffix.chars().all(valid) {
                return Some(format!(
                    "dead-letter suffix `{}` must be non-empty and use only letters, digits, `.`, `_` and `-`",
                    d.suffix
                ));
            }
        }
        None
    }
}

/// The name of retry topic `n` (from 1) of consumer group `group` for records of `topic`:
/// `<topic>.<group>.retry.<n>`, with every character of the group id that a topic name
/// cannot hold (anything but ASCII letters, digits, `.`, `_` and `-`) written as `_`.
///
/// Retry topics are per group: two listeners (groups) reading the same topic never
/// handle each other's retries, and one group's long delays never hold another's records.
/// Each retry record also names its group in `kflow.consumer.group`; a listener skips (and
/// counts, as `foreign_retry`) records in its retry topics that name another group.
///
/// ```
/// use kflow_core::policy::retry_topic;
/// assert_eq!(retry_topic("orders", "shop-billing", 1), "orders.shop-billing.retry.1");
/// assert_eq!(retry_topic("orders", "team a/billing", 2), "orders.team_a_billing.retry.2");
/// ```
pub fn retry_topic(topic: &str, group: &str, n: usize) -> String {
    let group: String = group
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect();
    format!("{topic}.{group}.retry.{n}")
}

/// The tier name of a retry delay, as shared retry topics are named
/// ([`Policy::shared_retry_topics`]): the largest whole unit of `d`, days (`1d`), hours
/// (`2h`), minutes (`1min`), seconds (`30s`) or milliseconds (`500ms`).
///
/// ```
/// use std::time::Duration;
/// use kflow_core::policy::retry_tier;
/// assert_eq!(retry_tier(Duration::from_secs(60)), "1min");
/// assert_eq!(retry_tier(Duration::from_secs(90)), "90s");
/// assert_eq!(retry_tier(Duration::from_secs(7200)), "2h");
/// assert_eq!(retry_tier(Duration::from_secs(86_400)), "1d");
/// assert_eq!(retry_tier(Duration::from_millis(250)), "250ms");
/// ```
pub fn retry_tier(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, name) in [(86_400_000, "d"), (3_600_000, "h"), (60_000, "min"), (1_000, "s")] {
        if ms >= unit && ms % unit == 0 {
            return format!("{}{name}", ms / unit);
        }
    }
    format!("{ms}ms")
}

/// A listener's or processor's policy for each error kind.
///
/// Defaults: deserialization and serialization errors go to the dead-letter topic; handler
/// errors are retried in place (4 attempts in all: the first call and 3 retries after
/// 100 ms, 200 ms and 400 ms), then dead-lettered; produce errors go to the dead-letter
/// topic too.
///
/// Produce errors: the client retries every write that can succeed; one that still fails
/// because the broker is away or refuses the topic stops the app whatever the policy (it
/// is not the record's fault, and a restart retries it). Only a record rejected for good
/// (larger than the client's or the broker's limit, or invalid) goes through the produce
/// policy: `dead_letter()` writes it to the input's dead-letter topic with the failure
/// headers and `kflow.output.topic`, without its value when it was too large (flagged in
/// `kflow.value.dropped`); `skip()` counts it; `fail()` stops the app.
///
/// ```
/// use kflow_core::{policy::{self, ErrorPolicies}, ErrorKind};
/// let p = ErrorPolicies::default().set(ErrorKind::Handler, policy::skip());
/// assert_eq!(p.get(ErrorKind::Handler), &policy::skip());
/// assert_eq!(p.get(ErrorKind::Deserialization), &policy::dead_letter());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorPolicies {
    deserialization: Policy,
    handler: Policy,
    serialization: Policy,
    produce: Policy,
}

impl Default for ErrorPolicies {
    fn default() -> Self {
        ErrorPolicies {
            deserialization: dead_letter(),
            handler: retry(4, Backoff::exponential(Duration::from_millis(100), 2.0)).then_dead_letter(),
            serialization: dead_letter(),
            produce: dead_letter(),
        }
    }
}

impl ErrorPolicies {
    /// The policy for `kind`.
    pub fn get(&self, kind: ErrorKind) -> &Policy {
        match kind {
            ErrorKind::Deserialization => &self.deserialization,
            ErrorKind::Handler => &self.handler,
            ErrorKind::Serialization => &self.serialization,
            ErrorKind::Produce => &self.produce,
        }
    }

    /// Sets the policy for `kind`.
    pub fn set(mut self, kind: ErrorKind, policy: Policy) -> Self {
        *match kind {
            ErrorKind::Deserialization => &mut self.deserialization,
            ErrorKind::Handler => &mut self.handler,
            ErrorKind::Serialization => &mut self.serialization,
            ErrorKind::Produce => &mut self.produce,
        } = policy;
        self
    }

    /// Sets `policy` for deserialization, handler and serialization errors (produce errors
    /// keep their own policy).
    pub fn all(self, policy: Policy) -> Self {
        self.set(ErrorKind::Deserialization, policy.clone())
            .set(ErrorKind::Handler, policy.clone())
            .set(ErrorKind::Serialization, policy)
    }

    pub(crate) fn kinds(&self) -> impl Iterator<Item = (ErrorKind, &Policy)> {
        [
            ErrorKind::Deserialization,
            ErrorKind::Handler,
            ErrorKind::Serialization,
            ErrorKind::Produce,
        ]
        .into_iter()
        .map(|k| (k, self.get(k)))
    }

    /// Checks every policy; the error names `<what> on_error` and the kind.
    pub(crate) fn validate(&self, what: &str, listener: bool) -> Result<(), Error> {
        for (kind, policy) in self.kinds() {
            if let Some(reason) = policy.problem(kind, listener) {
                return Err(Error::Config {
                    key: format!("{what} on_error ({kind} errors)"),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// The retry topics each kind's policy writes records of `topic` read by `group` to
    /// (one kind's after another: a topic two kinds share is listed twice).
    pub(crate) fn retry_topics_of<'a>(&'a self, topic: &'a str, group: &'a str) -> impl Iterator<Item = String> + 'a {
        self.kinds().flat_map(move |(_, p)| p.retry_topic_names(topic, group))
    }

    /// Whether `topic` is a shared retry tier of any kind's policy.
    pub(crate) fn is_shared_retry_topic(&self, topic: &str) -> bool {
        self.kinds().any(|(_, p)| p.is_shared_retry_topic(topic))
    }
}
