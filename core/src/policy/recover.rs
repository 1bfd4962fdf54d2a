//! Applying a policy to a failed record: in-place retries, retry topics, the final step.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::headers::{self, names, Failed, Origin};
use super::{retry_topic, Last};
use crate::ack::Ack;
use crate::error::{Error, ErrorKind, Result};
use crate::flow::FlowCtx;
use crate::record::RawRecord;
use crate::runtime::stats::DropReason;
use crate::transport::OutRecord;

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

impl FlowCtx {
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
        let retry = self.0.policies.get(kind).retry.clone();
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
                    tracing::debug!(processor = %self.0.name, %kind, %error, attempt, ?wait, "retrying");
                    self.0.stats.retry_counter(&self.0.name, kind).incr();
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

    /// Applies the rest of the failure's policy to `record` (its value bytes, or `None`
    /// when they are gone): a retry topic, the dead-letter topic, skip or fail. The future
    /// resolves once a write is queued; its ack then follows the write. An error means the
    /// write was not queued (the ack has been failed).
    pub(crate) fn recover(&self, record: RawRecord, ack: Ack, failure: Failure) -> BoxFuture<'static, Result<()>> {
        let policy = self.0.policies.get(failure.kind);
        let origin = Origin::of(&record, self.is_retry_topic(&record.meta.topic));
        let attempts = origin.attempts + failure.attempts;
        let first_failure = origin.first_failure.unwrap_or(failure.first);
        let failed = Failed {
            origin: &origin,
            group: &self.0.group,
            processor: &self.0.name,
            kind: failure.kind,
            message: &failure.message,
            attempts,
            first_failure,
            last_failure: failure.last,
        };
        if failure.transient {
            // Not the record's fault (e.g. the schema registry is down): stop, lose nothing.
            return self.fail(&origin, ack, &failure);
        }
        if self.0.listener && origin.level < policy.topics.len() {
            let level = origin.level + 1;
            let due = now_ms() + policy.topics[origin.level].as_millis() as i64;
            let mut out_headers = headers::user_headers(&record.headers);
            headers::add_kflow(&mut out_headers, &failed);
            out_headers.insert(names::RETRY_LEVEL, level.to_string());
            out_headers.insert(names::RETRY_DUE, due.to_string());
            let topic = retry_topic(&origin.topic, &self.0.group, level);
            tracing::info!(processor = %self.0.name, kind = %failure.kind, error = %failure.message, %topic, "record sent to a retry topic");
            self.0.stats.retry_counter(&self.0.name, failure.kind).incr();
            return self.write(topic, record, out_headers, origin.timestamp, ack);
        }
        match &policy.last {
            Last::DeadLetter(dl) => {
                let mut out_headers = headers::bounded_user_headers(&record.headers);
                if dl.spring {
                    headers::add_spring(&mut out_headers, &failed);
                } else {
                    headers::add_kflow(&mut out_headers, &failed);
                }
                let topic = format!("{}{}", origin.topic, dl.suffix);
                tracing::warn!(processor = %self.0.name, kind = %failure.kind, error = %failure.message, attempts, %topic, "record dead-lettered");
                self.counter(DropReason::DeadLettered).incr();
                crate::runtime::metrics::dead_letters(&self.0.name, &topic).increment(1);
                self.write(topic, record, out_headers, origin.timestamp, ack)
            }
            Last::Skip => {
                tracing::warn!(processor = %self.0.name, kind = %failure.kind, error = %failure.message, "record skipped");
                self.counter(DropReason::Skipped).incr();
                drop(ack);
                futures::future::ready(Ok(())).boxed()
            }
            Last::Fail => self.fail(&origin, ack, &failure),
        }
    }

    pub(crate) fn fail(&self, origin: &Origin, ack: Ack, failure: &Failure) -> BoxFuture<'static, Result<()>> {
        self.0.failed.store(true, Ordering::Relaxed);
        let reason = format!(
            "{} error in {} at {}-{}@{}: {}",
            failure.kind, self.0.name, origin.topic, origin.partition, origin.offset, failure.message
        );
        ack.fail(&reason);
        if let Some(fatal) = &self.0.fatal {
            fatal.report(reason);
        }
        futures::future::ready(Ok(())).boxed()
    }

    /// [`FlowCtx::recover`] for a failure found while polling a stream (no in-place
    /// retries there): one attempt, now.
    pub(crate) fn reject<T>(
        &self,
        record: crate::record::Record<T>,
        ack: Ack,
        kind: ErrorKind,
        error: &dyn Display,
    ) -> BoxFuture<'static, Result<()>> {
        self.recover(record.map_value(|_| None), ack, Failure::once(kind, error))
    }

    pub(crate) fn write(
        &self,
        topic: String,
        record: RawRecord,
        headers: crate::record::Headers,
        timestamp: i64,
        ack: Ack,
    ) -> BoxFuture<'static, Result<()>> {
        let Some(producer) = self.producer() else {
            let reason = format!("cannot write to `{topic}`: this flow is not running in an app");
            ack.fail(&reason);
            return futures::future::ready(Err(Error::Produce { topic, reason })).boxed();
        };
        let out = OutRecord {
            topic: Arc::from(topic),
            partition: None,
            key: record.key,
            value: record.value,
            headers,
            timestamp: Some(timestamp),
        };
        producer.send(out, ack)
    }

    /// Reports an error that must stop the app (a dead-letter or retry write that could
    /// not be queued).
    pub(crate) fn report(&self, result: Result<()>) {
        if let (Err(e), Some(fatal)) = (result, &self.0.fatal) {
            fatal.report(e.to_string());
        }
    }
}
