//! [`Recovery`]: what a task does with a record whose processing failed.
//!
//! A recovery owns one task's error policies, the identity of the unit it works for, the
//! writer its dead letters and retries go through, the counters it keeps and the task's
//! failure signal. Deciding is pure ([`Recovery::decide`] returns a [`Step`]); applying a
//! step ([`Recovery::apply`]) does the I/O. Decoding with the deserialization policy
//! ([`Recovery::decode`]) lives here too, for listeners and processors alike.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use futures::future::{ready, BoxFuture, Either};
use futures::stream::{BoxStream, StreamExt};
use futures::FutureExt;

use super::failure::{now_ms, Cause, Failure};
use super::headers::{self, names, Failed, Origin};
use super::{ErrorPolicies, Last};
use crate::ack::Ack;
use crate::codec::{decode_fetching, Decode, DecodeError};
use crate::error::{Error, ErrorKind, Fatal, Result};
use crate::event::{Event, Msg, RawMsg};
use crate::record::{Headers, RawRecord, Record};
use crate::telemetry::{metrics, DropCounter, DropReason, Stats, TaskFailure};
use crate::transport::{OutRecord, Producer};

/// Which kind of unit a recovery works for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnitKind {
    /// One handler call per record; may use retry topics.
    Listener,
    /// A pipeline; cannot take a record back in, so no retry topics.
    Processor,
}

/// The unit a recovery works for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub kind: UnitKind,
    pub name: String,
    pub group: String,
}

/// What to do with a failed record: the decision, before any I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write it to a retry topic of the listener, to be handled again at `due`.
    RetryTopic { topic: String, level: usize, due: i64 },
    /// Write it to a dead-letter topic.
    DeadLetter { topic: String, spring: bool },
    /// Count it and go on.
    Skip,
    /// Stop the app: nothing from the record on commits.
    Stop,
}

/// What a task's failed records go through (see the module docs). Shared by the task's
/// stages behind an `Arc`.
pub(crate) struct Recovery {
    identity: Identity,
    policies: Arc<ErrorPolicies>,
    /// The listener's own retry topics: the only records whose kflow headers count.
    retry_topics: Vec<String>,
    /// Where dead letters and retries are written (`None`: a detached flow).
    writer: Option<Arc<dyn Producer>>,
    stats: Arc<Stats>,
    failure: TaskFailure,
    dead_lettered: DropCounter,
    skipped: DropCounter,
}

/// What a [`Recovery`] is made of.
pub(crate) struct RecoveryParts {
    pub identity: Identity,
    pub policies: Arc<ErrorPolicies>,
    pub retry_topics: Vec<String>,
    pub writer: Option<Arc<dyn Producer>>,
    pub stats: Arc<Stats>,
    pub failure: TaskFailure,
}

impl Recovery {
    pub(crate) fn new(parts: RecoveryParts) -> Self {
        let name = &parts.identity.name;
        Recovery {
            dead_lettered: parts.stats.drop_counter(name, DropReason::DeadLettered),
            skipped: parts.stats.drop_counter(name, DropReason::Skipped),
            identity: parts.identity,
            policies: parts.policies,
            retry_topics: parts.retry_topics,
            writer: parts.writer,
            stats: parts.stats,
            failure: parts.failure,
        }
    }

    /// A recovery for a flow that is not part of an app (tests, benchmarks, doc
    /// examples): nothing to write to, counters of its own, every error stops the flow.
    pub(crate) fn detached() -> Self {
        Self::new(RecoveryParts {
            identity: Identity {
                kind: UnitKind::Processor,
                name: "detached".into(),
                group: "detached".into(),
            },
            policies: Arc::new(ErrorPolicies::default().all(super::fail())),
            retry_topics: Vec::new(),
            writer: None,
            stats: Arc::default(),
            failure: TaskFailure::default(),
        })
    }

    /// The unit this recovery works for.
    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The unit's policies.
    pub(crate) fn policies(&self) -> &ErrorPolicies {
        &self.policies
    }

    /// The app's counters.
    pub(crate) fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// True when `topic` is one of the unit's own retry topics.
    pub(crate) fn is_retry_topic(&self, topic: &str) -> bool {
        self.retry_topics.iter().any(|t| t == topic)
    }

    /// Whether `topic` is a retry topic shared with other listeners, whose records of
    /// other groups are expected there.
    pub(crate) fn is_shared_retry_topic(&self, topic: &str) -> bool {
        self.policies.is_shared_retry_topic(topic)
    }

    /// True once a record of this task failed under `fail` (or a write could not be
    /// queued): the task takes no more records.
    pub(crate) fn has_failed(&self) -> bool {
        self.failure.has_failed()
    }

    /// Counts a record dead-lettered or skipped outside [`Recovery::apply`] (a rejected
    /// output).
    pub(crate) fn count(&self, reason: DropReason) {
        match reason {
            DropReason::DeadLettered => self.dead_lettered.incr(),
            DropReason::Skipped => self.skipped.incr(),
            other => self.stats.drop_counter(&self.identity.name, other).incr(),
        }
    }

    /// Stops the app with `fatal` (named after this unit).
    pub(crate) fn stop(&self, fatal: Fatal) {
        let fatal = match fatal.unit {
            Some(_) => fatal,
            None => fatal.unit(&self.identity.name).group(&self.identity.group),
        };
        self.failure.fail(fatal);
    }

    /// Stops the app if `result` is an error (a dead-letter, retry or output write that
    /// could not be queued; its ack has been failed).
    pub(crate) fn report(&self, result: Result<()>) {
        if let Err(e) = result {
            self.stop(Fatal::new(e.to_string()));
        }
    }

    /// Decodes a record's value; after a transient error, fetches what the codec lacked
    /// and decodes again; then retries as the deserialization policy says.
    pub(crate) async fn decode<T: 'static>(
        &self,
        codec: &dyn Decode<T>,
        data: Option<&[u8]>,
    ) -> std::result::Result<T, Failure> {
        match codec.decode(data) {
            Ok(v) => Ok(v),
            Err(e) => self.decode_after(codec, data, e).await,
        }
    }

    /// [`Recovery::decode`] once the first attempt failed with `error`.
    pub(crate) async fn decode_after<T: 'static>(
        &self,
        codec: &dyn Decode<T>,
        data: Option<&[u8]>,
        error: DecodeError,
    ) -> std::result::Result<T, Failure> {
        let first = match error.transient {
            true => decode_fetching(codec, data).await,
            false => Err(error),
        };
        match first {
            Ok(v) => Ok(v),
            Err(e) => {
                self.retry_after(ErrorKind::Deserialization, e, || decode_fetching(codec, data))
                    .await
            }
        }
    }

    /// Retries an operation whose first attempt failed with `error`, until it succeeds or
    /// `kind`'s in-place retries are used up, waiting the policy's backoff in between.
    pub(crate) async fn retry_after<T, E, F, Fut>(
        &self,
        kind: ErrorKind,
        error: E,
        mut op: F,
    ) -> std::result::Result<T, Failure>
    where
        E: Cause,
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let retry = self.policies.get(kind).retry.clone();
        let max = retry.as_ref().map_or(1, |r| r.max_attempts.max(1));
        let first = now_ms();
        let mut transient = error.transient();
        let mut error = error.to_string();
        let mut attempt = 1;
        loop {
            let now = now_ms();
            match &retry {
                Some(r) if attempt < max => {
                    let wait = r.backoff.jittered(attempt);
                    tracing::debug!(unit = %self.identity.name, %kind, %error, attempt, ?wait, "retrying");
                    self.stats.retry_counter(&self.identity.name, kind).incr();
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    return Err(Failure {
                        kind,
                        message: error,
                        attempts: attempt,
                        first,
                        last: now,
                        transient,
                    })
                }
            }
            attempt += 1;
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    transient = e.transient();
                    error = e.to_string();
                }
            }
        }
    }

    /// What the policy says to do with a record from `origin` that failed with `failure`
    /// (`now` is when), before any I/O.
    pub(crate) fn decide(&self, origin: &Origin, failure: &Failure, now: i64) -> Step {
        let policy = self.policies.get(failure.kind);
        if failure.transient {
            // Not the record's fault (e.g. the schema registry is down): stop, lose nothing.
            return Step::Stop;
        }
        if self.identity.kind == UnitKind::Listener && origin.level < policy.topics.len() {
            let level = origin.level + 1;
            return Step::RetryTopic {
                topic: policy.retry_topic_for(&origin.topic, &self.identity.group, level),
                level,
                due: now + policy.topics[origin.level].as_millis() as i64,
            };
        }
        match &policy.last {
            Last::DeadLetter(dl) => Step::DeadLetter {
                topic: dl.topic_for(&origin.topic),
                spring: dl.spring,
            },
            Last::Skip => Step::Skip,
            Last::Fail => Step::Stop,
        }
    }

    /// Applies the failure's policy to `record` (its value bytes, or `None` when they
    /// are gone): a retry topic, the dead-letter topic, skip or stop. The future resolves
    /// once a write is queued; its ack then follows the write. An error means the write
    /// was not queued (the ack has been failed).
    pub(crate) fn recover(&self, record: RawRecord, ack: Ack, failure: Failure) -> BoxFuture<'static, Result<()>> {
        let origin = Origin::of(&record, self.is_retry_topic(&record.meta.topic));
        let step = self.decide(&origin, &failure, now_ms());
        self.apply(step, record, ack, &origin, &failure)
    }

    /// [`Recovery::recover`] for a failure found while polling a stream (no in-place
    /// retries there): one attempt, now.
    pub(crate) fn reject<T>(
        &self,
        record: Record<T>,
        ack: Ack,
        kind: ErrorKind,
        error: &dyn Display,
    ) -> BoxFuture<'static, Result<()>> {
        self.recover(record.map_value(|_| None), ack, Failure::once(kind, error))
    }

    /// Carries out a [`Step`] for `record`.
    pub(crate) fn apply(
        &self,
        step: Step,
        record: RawRecord,
        ack: Ack,
        origin: &Origin,
        failure: &Failure,
    ) -> BoxFuture<'static, Result<()>> {
        let attempts = origin.attempts + failure.attempts;
        let failed = Failed {
            origin,
            group: &self.identity.group,
            processor: &self.identity.name,
            kind: failure.kind,
            message: &failure.message,
            attempts,
            first_failure: origin.first_failure.unwrap_or(failure.first),
            last_failure: failure.last,
        };
        let name = &self.identity.name;
        match step {
            Step::RetryTopic { topic, level, due } => {
                let mut out_headers = headers::user_headers(&record.headers);
                headers::add_kflow(&mut out_headers, &failed);
                out_headers.insert(names::RETRY_LEVEL, level.to_string());
                out_headers.insert(names::RETRY_DUE, due.to_string());
                tracing::info!(unit = %name, kind = %failure.kind, error = %failure.message, %topic, "record sent to a retry topic");
                self.stats.retry_counter(name, failure.kind).incr();
                self.write(topic, record, out_headers, origin.timestamp, ack)
            }
            Step::DeadLetter { topic, spring } => {
                let mut out_headers = headers::bounded_user_headers(&record.headers);
                match spring {
                    true => headers::add_spring(&mut out_headers, &failed),
                    false => headers::add_kflow(&mut out_headers, &failed),
                }
                tracing::warn!(unit = %name, kind = %failure.kind, error = %failure.message, attempts, %topic, "record dead-lettered");
                self.dead_lettered.incr();
                metrics::dead_letters(name, &topic).increment(1);
                self.write(topic, record, out_headers, origin.timestamp, ack)
            }
            Step::Skip => {
                tracing::warn!(unit = %name, kind = %failure.kind, error = %failure.message, "record skipped");
                self.skipped.incr();
                drop(ack);
                futures::future::ready(Ok(())).boxed()
            }
            Step::Stop => {
                self.fail(origin, ack, failure);
                futures::future::ready(Ok(())).boxed()
            }
        }
    }

    /// Stops the app for a record: its ack fails (nothing from it on commits) and the
    /// task's failure signal is set.
    pub(crate) fn fail(&self, origin: &Origin, ack: Ack, failure: &Failure) {
        let reason = format!(
            "{} error in {} at {}-{}@{}: {}",
            failure.kind, self.identity.name, origin.topic, origin.partition, origin.offset, failure.message
        );
        ack.fail(&reason);
        let at = crate::record::TopicPartition::new(origin.topic.clone(), origin.partition);
        self.stop(Fatal::new(reason).at(at, crate::record::Offset(origin.offset)));
    }

    /// Writes a dead letter or retry record through the recovery's writer.
    pub(crate) fn write(
        &self,
        topic: String,
        record: RawRecord,
        headers: Headers,
        timestamp: i64,
        ack: Ack,
    ) -> BoxFuture<'static, Result<()>> {
        let Some(writer) = &self.writer else {
            let reason = format!("cannot write to `{topic}`: this flow is not running in an app");
            ack.fail(&reason);
            return futures::future::ready(Err(Error::produce(topic, reason))).boxed();
        };
        let out = OutRecord {
            topic: Arc::from(topic),
            partition: None,
            key: record.key,
            value: record.value,
            headers,
            timestamp: Some(timestamp),
        };
        writer.send(out, ack)
    }
}

/// Decodes each record's value with `codec`; a value that does not decode goes through
/// `recovery` (fetching and in-place retries, then the deserialization policy) and
/// leaves the stream. Decoding that works costs no allocation.
pub(crate) fn decoded<T: Send + 'static>(
    source: BoxStream<'static, RawMsg>,
    codec: Arc<dyn Decode<T>>,
    recovery: Arc<Recovery>,
) -> BoxStream<'static, Event<T>> {
    source
        .filter_map(move |Msg { record, ack }| match codec.decode(record.value.as_deref()) {
            Ok(value) => Either::Left(ready(Some(Event::Msg(Msg::new(record.map_value(|_| value), ack))))),
            Err(error) => {
                let (recovery, codec) = (recovery.clone(), codec.clone());
                Either::Right(
                    async move {
                        match recovery.decode_after(&*codec, record.value.as_deref(), error).await {
                            Ok(value) => Some(Event::Msg(Msg::new(record.map_value(|_| value), ack))),
                            Err(failure) => {
                                let result = recovery.recover(record, ack, failure).await;
                                recovery.report(result);
                                None
                            }
                        }
                    }
                    .boxed(),
                )
            }
        })
        .boxed()
}
