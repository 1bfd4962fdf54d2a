//! `Listener`: one handler call per record, in offset order per partition.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;

use super::handler::{Handler, IntoHandlerResult};
use super::task::{guarded, panic_message};
use super::unit::{end_task, ensure_topic, unit_setters, Grouping, TaskSetup, Unit, UnitConfig, UnitTopics};
use crate::codec::{decode_fetching, Decode, Json};
use crate::error::{Error, ErrorKind, HandlerError, Result};
use crate::policy::failure::{now_ms, Failure};
use crate::policy::headers::{names, Origin};
use crate::policy::recovery::{Recovery, UnitKind};
use crate::record::{Meta, RawRecord, Record};
use crate::telemetry::{metrics, DropReason};
use crate::transport::Admin;

type HandlerFn<T> = dyn Fn(Record<T>) -> BoxFuture<'static, std::result::Result<(), HandlerError>> + Send + Sync;

/// A listener: an async handler called once per record, in offset order within each
/// partition; partitions run concurrently. A record's offset commits after its handler
/// returned `Ok`. Group id: `<app id>-<name>` unless set.
///
/// ```
/// use kflow_core::{HandlerError, Listener, Meta};
/// async fn on_click(page: String, meta: Meta) -> Result<(), HandlerError> {
///     println!("{page} at offset {}", meta.offset);
///     Ok(())
/// }
/// let l = Listener::new("clicks", ["clicks"], on_click);
/// assert_eq!(l.name(), "clicks");
/// ```
pub struct Listener<T> {
    config: UnitConfig,
    /// Shared by the listener's partition tasks when `concurrency` is set.
    permits: Option<Arc<tokio::sync::Semaphore>>,
    handler: Arc<HandlerFn<T>>,
    decoder: Arc<dyn Decode<T>>,
}

impl<T: DeserializeOwned + Send + 'static> Listener<T> {
    /// A listener on `topics` with JSON values. The handler returns `()` or
    /// `Result<(), E>` with `E: Into<HandlerError>`.
    ///
    /// ```
    /// use kflow_core::{Listener, Meta};
    /// let l = Listener::new("log", ["events"], |v: String, meta: Meta| async move {
    ///     println!("{v} at {}", meta.offset);
    /// });
    /// assert_eq!(l.name(), "log");
    /// ```
    pub fn new<I, S, F, Fut>(name: &str, topics: I, handler: F) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        F: Fn(T, Meta) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHandlerResult,
    {
        let handler: Arc<HandlerFn<T>> =
            Arc::new(move |r: Record<T>| handler(r.value, r.meta).map(IntoHandlerResult::into_result).boxed());
        Self::from_parts(name, topics, handler)
    }

    /// A listener on `topics` with JSON values whose handler takes extractor arguments in
    /// any order: the value, `Meta`, `Key<K>`, `Headers` or `Record<T>` (see
    /// [`super::handler`]). This is what `#[kflow::listener]` generates.
    ///
    /// ```
    /// use kflow_core::runtime::handler::Key;
    /// use kflow_core::{Headers, Listener};
    /// async fn audit(headers: Headers, key: Key<String>, amount: u64) -> Result<(), String> {
    ///     if amount == 0 { return Err(format!("zero amount for {}", key.0)); }
    ///     let _ = headers.get_str("trace-id");
    ///     Ok(())
    /// }
    /// let l = Listener::handler("audit", ["payments"], audit);
    /// assert_eq!(l.topics(), ["payments"]);
    /// ```
    pub fn handler<I, S, M, H>(name: &str, topics: I, handler: H) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        H: Handler<T, M>,
    {
        let handler: Arc<HandlerFn<T>> = Arc::new(move |r: Record<T>| handler.call(r));
        Self::from_parts(name, topics, handler)
    }

    fn from_parts<I: IntoIterator<Item = S>, S: Into<String>>(
        name: &str,
        topics: I,
        handler: Arc<HandlerFn<T>>,
    ) -> Self {
        Listener {
            config: UnitConfig::new(name, topics.into_iter().map(Into::into).collect()),
            permits: None,
            handler,
            decoder: Arc::new(Json),
        }
    }
}

impl<T: Send + 'static> Listener<T> {
    unit_setters!("listener");

    /// At most `n` handler calls run at once in this instance, over all its partitions
    /// (each partition still handles its records one at a time, in order).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.permits = Some(Arc::new(tokio::sync::Semaphore::new(n.max(1))));
        self
    }

    /// Replaces the value codec (e.g. [`crate::codec::Utf8`] for `String`).
    pub fn value_decoder(mut self, codec: impl Decode<T>) -> Self {
        self.decoder = Arc::new(codec);
        self
    }
}

impl<T: Send + 'static> Unit for Listener<T> {
    fn config(&self) -> &UnitConfig {
        &self.config
    }

    fn config_mut(&mut self) -> &mut UnitConfig {
        &mut self.config
    }

    fn grouping(&self) -> Grouping {
        Grouping::PerPartition
    }

    fn plan(&self, app_id: &str) -> Result<UnitTopics> {
        if self.config.inputs.is_empty() {
            return Err(Error::Config {
                key: format!("listener `{}` topics", self.config.name),
                reason: "no topic".into(),
            });
        }
        self.config
            .policies
            .validate(&format!("listener `{}`", self.config.name), true)?;
        let mut plan = UnitTopics::default();
        let group = self.config.group_id(app_id);
        plan.add_policy_topics(&self.config.policies, &group, self.config.inputs.iter());
        if let Some(long) = plan.retries.iter().find(|t| t.len() > 249) {
            return Err(Error::Config {
                key: format!("listener `{}` group_id", self.config.name),
                reason: format!(
                    "its retry topic `{long}` would be longer than Kafka's 249 characters: use a shorter group id"
                ),
            });
        }
        Ok(plan)
    }

    fn prepare<'a>(
        &'a self,
        app_id: &'a str,
        admin: &'a dyn Admin,
        topics: &'a super::TopicDefaults,
    ) -> BoxFuture<'a, Result<UnitTopics>> {
        async move {
            let plan = self.plan(app_id)?;
            if let Some(check) = self.decoder.check() {
                check.await?;
            }
            let partitions = self.config.input_partitions("listener", admin).await?;
            for topic in plan.dead_letters.iter().chain(&plan.retries) {
                ensure_topic(admin, topic, topics.partitions.unwrap_or(partitions), topics).await?;
            }
            Ok(plan)
        }
        .boxed()
    }

    fn task(&self, setup: TaskSetup) -> BoxFuture<'static, ()> {
        let group = self.config.group_id(&setup.app_id);
        let mut own = UnitTopics::default();
        own.add_policy_topics(&self.config.policies, &group, self.config.inputs.iter());
        let recovery = self
            .config
            .recovery(UnitKind::Listener, &setup.app_id, &setup, own.retries);
        let stop = setup.stop.clone();
        let mut source =
            futures::stream::select_all(setup.sources.into_values().flatten().map(|(_, s)| s)).take_until(stop.clone());
        let call = Call {
            handler: self.handler.clone(),
            decoder: self.decoder.clone(),
            permits: self.permits.clone(),
            duration: metrics::handler_duration(&self.config.name),
        };
        let name = self.config.name.clone();
        let (trackers, fatal, idle_until) = (setup.trackers, setup.fatal, setup.idle_until);
        let (producer, drain_timeout) = (setup.producer, setup.drain_timeout);
        let foreign = setup.stats.drop_counter(&name, DropReason::ForeignRetry);
        async move {
            let mut pending: Option<crate::ack::Ack> = None;
            // A failed record went to a retry or dead-letter topic (or was skipped).
            let mut wrote = false;
            let run = async {
                while let Some(msg) = source.next().await {
                    let (record, ack) = (msg.record, msg.ack);
                    let retried = recovery.is_retry_topic(&record.meta.topic);
                    if retried && record.headers.get_str(names::CONSUMER_GROUP).is_some_and(|g| g != group) {
                        // Another group's retry (in a shared retry tier, or when two group
                        // ids map to one topic name): not ours to handle.
                        if recovery.is_shared_retry_topic(&record.meta.topic) {
                            tracing::debug!(listener = %name, topic = %record.meta.topic, offset = %record.meta.offset, "a shared retry tier's record of another consumer group: skipped");
                        } else {
                            tracing::warn!(listener = %name, topic = %record.meta.topic, offset = %record.meta.offset, "a retry record of another consumer group: skipped");
                        }
                        foreign.incr();
                        drop(ack);
                        continue;
                    }
                    // A record from one of this listener's retry topics waits until it is
                    // due; only its own partition waits.
                    if let Some(due) = Origin::due_of(&record, retried) {
                        let wait = Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64);
                        idle_until.store(due, Ordering::Relaxed);
                        let stopped = tokio::select! {
                            _ = tokio::time::sleep(wait) => false,
                            _ = stop.clone() => true,
                        };
                        idle_until.store(0, Ordering::Relaxed);
                        if stopped {
                            // Not handled: it stays uncommitted (the seal below comes
                            // before its ack goes).
                            pending = Some(ack);
                            break;
                        }
                    }
                    match call.handle(&recovery, &record).await {
                        Ok(()) => drop(ack),
                        Err(failure) => {
                            wrote = true;
                            let result = recovery.recover(record, ack, failure).await;
                            recovery.report(result);
                        }
                    }
                    if recovery.has_failed() {
                        // Under `fail` nothing after the failed record is handled.
                        break;
                    }
                }
            };
            let outcome = guarded(run, &trackers).await;
            // Dead-letter and retry writes of handled records are still on their way:
            // let them be acknowledged (bounded) so that their records commit now and are
            // not handled again by the partition's next owner.
            if wrote {
                if let Err(e) = producer.flush(drain_timeout).await {
                    tracing::warn!(listener = %name, error = %e, "dead-letter and retry writes not acknowledged before the partitions were released");
                }
            }
            end_task(("listener", &name, &group), outcome, &trackers, &fatal);
            drop(pending);
        }
        .boxed()
    }
}

/// What a listener task calls for each record.
struct Call<T> {
    handler: Arc<HandlerFn<T>>,
    decoder: Arc<dyn Decode<T>>,
    permits: Option<Arc<tokio::sync::Semaphore>>,
    duration: ::metrics::Histogram,
}

impl<T: Send + 'static> Call<T> {
    /// Decodes the record and calls the handler, retrying each step as its policy says.
    /// A panicking handler counts as a handler error.
    async fn handle(&self, recovery: &Recovery, record: &RawRecord) -> std::result::Result<(), Failure> {
        let data = record.value.as_deref();
        let decode = || decode_fetching(&*self.decoder, data);
        let value = recovery.decode(&*self.decoder, data).await?;
        match self.call(record, value).await {
            Ok(()) => Ok(()),
            Err(e) => {
                recovery
                    .retry_after(ErrorKind::Handler, e, || async {
                        let value = decode().await.map_err(|e| e.to_string())?;
                        self.call(record, value).await
                    })
                    .await
            }
        }
    }

    async fn call(&self, record: &RawRecord, value: T) -> std::result::Result<(), String> {
        let typed = Record {
            key: record.key.clone(),
            value,
            headers: record.headers.clone(),
            meta: record.meta.clone(),
        };
        let _permit = match &self.permits {
            Some(p) => Some(p.acquire().await.expect("semaphore open")),
            None => None,
        };
        let started = std::time::Instant::now();
        let result = AssertUnwindSafe((self.handler)(typed)).catch_unwind().await;
        self.duration.record(started.elapsed().as_secs_f64());
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(panic) => Err(format!("handler panicked: {}", panic_message(&*panic))),
        }
    }
}

/// Anything `App::listener` accepts: a [`Listener`], or a function annotated with
/// `#[kflow::listener]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a listener",
    note = "pass a `Listener`, or a function annotated with `#[kflow::listener(...)]`"
)]
pub trait IntoListener {
    /// The value type.
    type Value: Send + 'static;
    /// The listener.
    fn into_listener(self) -> Listener<Self::Value>;
}

impl<T: Send + 'static> IntoListener for Listener<T> {
    type Value = T;
    fn into_listener(self) -> Listener<T> {
        self
    }
}
